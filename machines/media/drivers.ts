// The real display, browser and encoder drivers, wired to one process registry.
import type { ProcessRegistry } from '../processes/registry.js';
import { ChromiumBrowserDriver, type ChromiumBrowserOptions } from './browser.js';
import type { BrowserDriver, DisplayDriver, EncoderDriver } from '../components.js';
import { XvfbDisplayDriver } from './display.js';
import { FfmpegEncoderDriver, type FfmpegEncoderOptions } from './encoder.js';

export interface MediaDriversOptions {
  registry: ProcessRegistry;
  xvfbPath?: string;
  /** Chromium binary; default: the first of the usual system paths. Never downloaded. */
  chromiumPath?: string;
  ffmpegPath?: string;
  /** Per-machine cache of the hardware-encoder probe, e.g. `<stateDir>/encoder-probe.json`. */
  probeCacheFile?: string;
  browser?: Omit<ChromiumBrowserOptions, 'registry' | 'executablePath'>;
  encoder?: Omit<FfmpegEncoderOptions, 'registry' | 'ffmpegPath' | 'probeCacheFile'>;
}

export function createMediaDrivers(opts: MediaDriversOptions): { display: DisplayDriver; browser: BrowserDriver; encoder: EncoderDriver } {
  return {
    display: new XvfbDisplayDriver({ registry: opts.registry, ...(opts.xvfbPath ? { xvfbPath: opts.xvfbPath } : {}) }),
    browser: new ChromiumBrowserDriver({ ...opts.browser, registry: opts.registry, ...(opts.chromiumPath ? { executablePath: opts.chromiumPath } : {}) }),
    encoder: new FfmpegEncoderDriver({
      ...opts.encoder,
      registry: opts.registry,
      ...(opts.ffmpegPath ? { ffmpegPath: opts.ffmpegPath } : {}),
      ...(opts.probeCacheFile ? { probeCacheFile: opts.probeCacheFile } : {}),
    }),
  };
}
