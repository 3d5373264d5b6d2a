// Finding the leader by asking masters: GET /master/redirect answers 307 to the leader on every
// master of an HA group (Mesos's behaviour), 503 while no leader is known, and a master that is not
// part of a group answers for itself. A redirect target that cannot be reached is not trusted: an
// advertised hostname may not resolve from here, or a wildcard address may be all a master knows
// about itself; the master we asked keeps redirecting our requests anyway.
import { UnavailableError } from '../protocol/errors.ts';
import { silentLogger, type Logger } from '../runtime/log.ts';
import { LEADING_HEADER } from '../protocol/leader-header.ts';
import { baseOf, keepAliveAgent, requestOnce, resolveLocation } from './http.ts';
import type { InvalidateReason, LeaderInfo, MasterLocator, MasterLocatorOptions } from './master-locator.ts';
import type { MasterSpec } from './master-spec.ts';
import { isWildcardHost } from '../protocol/hosts.ts';

type Probe =
  | { kind: 'leader'; url: string }
  | { kind: 'no-leader'; reason: string }
  | { kind: 'down'; error: UnavailableError };

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

export class UrlLocator implements MasterLocator {
  readonly description: string;
  readonly kind: 'url' | 'list';
  private leader?: string;
  private resolving?: Promise<string>;
  private announced?: string;
  private closed = false;
  private readonly listeners = new Set<(l: LeaderInfo | undefined) => void>();
  private readonly agent = keepAliveAgent(4);
  private readonly log: Logger;

  constructor(
    private readonly spec: Extract<MasterSpec, { kind: 'url' | 'list' }>,
    private readonly opts: MasterLocatorOptions = {},
  ) {
    this.description = spec.kind === 'url' ? spec.urls[0] : spec.text;
    this.kind = spec.kind;
    this.log = opts.log ?? silentLogger;
  }

  async current(): Promise<string> {
    if (this.closed) throw new UnavailableError(`master locator for ${this.description} is closed`);
    if (this.leader) return this.leader;
    this.resolving ??= this.resolve().finally(() => (this.resolving = undefined));
    return this.resolving;
  }

  /** Either way the masters are asked again: a 503 from the one we use means it no longer leads. */
  invalidate(badUrl?: string, _why?: InvalidateReason): void {
    if (!this.leader) return;
    if (badUrl === undefined || sameBase(badUrl, this.leader)) this.leader = undefined;
  }

  onChange(cb: (l: LeaderInfo | undefined) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    this.agent.destroy();
  }

  private async resolve(): Promise<string> {
    const waitMs = this.opts.leaderWaitMs ?? 10_000;
    const deadline = Date.now() + waitMs;
    let pause = 100;
    // Bounded: every round either returns, throws, or waits; the deadline ends the waiting.
    for (;;) {
      const downs: UnavailableError[] = [];
      const noLeader: string[] = [];
      // The last leader first: after a failover it is usually a follower that knows the new one.
      const last = this.spec.urls.find((u) => u === this.announced);
      const order = last ? [last, ...this.spec.urls.filter((u) => u !== last)] : this.spec.urls;
      for (const url of order) {
        if (this.closed) throw new UnavailableError(`master locator for ${this.description} is closed`);
        const p = await this.probe(url);
        if (p.kind === 'leader') return this.found(p.url);
        if (p.kind === 'down') downs.push(p.error);
        else noLeader.push(`${url}: ${p.reason}`);
      }
      if (noLeader.length === 0) {
        if (this.spec.kind === 'url') throw downs[0]!;
        throw new UnavailableError(`cannot reach any master of ${this.description}: ${downs.map((e) => e.message).join('; ')}`, {
          peer: 'master',
        });
      }
      if (Date.now() + pause > deadline) {
        throw new UnavailableError(`no leading master after ${waitMs} ms: ${[...noLeader, ...downs.map((e) => e.message)].join('; ')}`, {
          peer: 'master',
        });
      }
      // A ref'd timer on purpose: a CLI waiting here has nothing else keeping the process alive.
      await new Promise((r) => setTimeout(r, pause));
      pause = Math.min(pause * 2, 1000);
    }
  }

  private found(url: string): string {
    if (this.closed) throw new UnavailableError(`master locator for ${this.description} is closed`);
    this.leader = url;
    if (url !== this.announced) {
      this.announced = url;
      this.log.info('leading master', { url, via: this.description });
      for (const cb of [...this.listeners]) {
        try {
          cb({ url });
        } catch (e) {
          this.log.error('leader change listener threw', { error: (e as Error).message });
        }
      }
    }
    return url;
  }

  private async probe(url: string): Promise<Probe> {
    const probeUrl = `${url}/master/redirect`;
    let res;
    try {
      res = await this.get(probeUrl);
    } catch (e) {
      return { kind: 'down', error: e instanceof UnavailableError ? e : new UnavailableError(String((e as Error).message), { peer: 'master' }) };
    }
    const location = res.headers.location;
    // The master we asked leads: keep the address we reached it by (it may advertise another one).
    if (res.headers[LEADING_HEADER] === 'true') return { kind: 'leader', url };
    if (REDIRECTS.has(res.status) && location) {
      let target: string;
      try {
        target = baseOf(resolveLocation(location, probeUrl));
      } catch {
        return { kind: 'leader', url };
      }
      const host = new URL(target).hostname;
      if (sameBase(target, url) || isWildcardHost(host)) return { kind: 'leader', url };
      if (await this.reachable(target)) return { kind: 'leader', url: target };
      this.log.warn('a master redirects to a leader this process cannot reach; talking to it instead', { master: url, leader: target });
      return { kind: 'leader', url };
    }
    if (res.status === 503) return { kind: 'no-leader', reason: res.body.toString('utf8').trim().slice(0, 200) || '503 Service Unavailable' };
    // 2xx, or 404 from a master without /master/redirect: it serves the API itself.
    return { kind: 'leader', url };
  }

  /** The target must answer as the leader itself: anything else at that address (a proxy, another service) is not it. */
  private async reachable(url: string): Promise<boolean> {
    try {
      const res = await this.get(`${url}/master/redirect`);
      return res.headers[LEADING_HEADER] === 'true';
    } catch {
      return false;
    }
  }

  private get(url: string) {
    return requestOnce(url, { method: 'GET', agent: this.agent, timeoutMs: this.opts.probeTimeoutMs ?? 5000, peer: 'master' });
  }
}

function sameBase(a: string, b: string): boolean {
  try {
    return baseOf(a) === baseOf(b);
  } catch {
    return a === b;
  }
}
