// The coordinator `pagecast run` uses, from its checked flags (flags.ts).
import type { Logger } from '../../machines/log.js';
import { StaticCoordinator, type Coordinator } from './coordinator.js';
import { EtcdCoordinator } from './etcd-coordinator.js';
import type { CoordinationConfig } from './flags.js';

export function createCoordinator(config: CoordinationConfig, log: Logger): Coordinator {
  if (config.kind === 'static') return new StaticCoordinator();
  const { kind: _, ...opts } = config;
  return new EtcdCoordinator({ ...opts, log });
}
