// Answers `_googlecast._tcp.local` queries for one fake device, on loopback only. Loopback has no
// multicast here, so queries arrive as broadcasts to 127.255.255.255:<port> (every responder on
// that port gets them) and answers go back unicast to the asker.
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import makeMdns from 'multicast-dns';
import type { Answer } from 'dns-packet';

export const CAST_SERVICE = '_googlecast._tcp.local';

export interface CastServiceRecord {
  name: string; // fn
  id: string; // 32 hex
  model: string; // md
  port: number;
  address: string; // A record
  runningApp: string; // rs
}

export class MdnsResponder {
  private service: CastServiceRecord;
  private requestedPort: number;
  private readonly bindAddress: string;
  private socket?: Socket;
  private mdns?: makeMdns.MulticastDNS;

  constructor(opts: { port: number; bindAddress?: string; service: CastServiceRecord }) {
    this.requestedPort = opts.port;
    this.bindAddress = opts.bindAddress ?? '127.255.255.255';
    this.service = opts.service;
  }

  async start(): Promise<void> {
    const socket = createSocket({ type: 'udp4', reuseAddr: true });
    this.socket = socket;
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(this.requestedPort, this.bindAddress, () => {
        socket.removeListener('error', reject);
        resolve();
      });
    });
    // Port 0 picks a free one; further responders join it with reuseAddr.
    this.requestedPort = socket.address().port;
    const mdns = makeMdns({ socket, multicast: false, bind: false, port: this.requestedPort });
    this.mdns = mdns;
    mdns.on('warning', () => undefined); // undecodable packets: not ours to care about
    mdns.on('query', (q, rinfo) => this.onQuery(q.questions ?? [], rinfo));
  }

  /** The UDP port queries reach it on. */
  get port(): number {
    return this.requestedPort;
  }

  update(service: CastServiceRecord): void {
    this.service = service;
  }

  stop(): Promise<void> {
    const mdns = this.mdns;
    this.mdns = undefined;
    return new Promise((resolve) => (mdns ? mdns.destroy(() => resolve()) : resolve()));
  }

  /** The instance, target and records a real Chromecast announces (CAST.md §5). */
  records(): { ptr: Answer; srv: Answer; txt: Answer; a: Answer; instance: string; target: string } {
    const s = this.service;
    const instance = `Chromecast-${s.id}.${CAST_SERVICE}`;
    const target = `${s.id}.local`;
    return {
      instance,
      target,
      ptr: { name: CAST_SERVICE, type: 'PTR', ttl: 120, data: instance },
      srv: { name: instance, type: 'SRV', ttl: 120, data: { target, port: s.port, priority: 0, weight: 0 } },
      txt: { name: instance, type: 'TXT', ttl: 4500, data: [`id=${s.id}`, 'cd=0', 'rm=', 've=05', `md=${s.model}`, 'ic=/setup/icon.png', `fn=${s.name}`, 'ca=199172', `st=${s.runningApp ? 1 : 0}`, 'bs=FA8FCA000000', 'nf=1', `rs=${s.runningApp}`] },
      a: { name: target, type: 'A', ttl: 120, data: s.address },
    };
  }

  private onQuery(questions: Array<{ name: string; type: string }>, rinfo: RemoteInfo): void {
    const r = this.records();
    const answers: Answer[] = [];
    for (const q of questions) {
      const name = q.name.toLowerCase();
      const any = q.type === 'ANY';
      if (name === CAST_SERVICE.toLowerCase() && (q.type === 'PTR' || any)) answers.push(r.ptr);
      if (name === r.instance.toLowerCase() && (q.type === 'SRV' || any)) answers.push(r.srv);
      if (name === r.instance.toLowerCase() && (q.type === 'TXT' || any)) answers.push(r.txt);
      if (name === r.target.toLowerCase() && (q.type === 'A' || any)) answers.push(r.a);
    }
    if (answers.length === 0) return;
    const additionals = [r.srv, r.txt, r.a].filter((x) => !answers.includes(x));
    this.mdns?.respond({ answers, additionals }, { port: rinfo.port, address: rinfo.address } as RemoteInfo);
  }
}
