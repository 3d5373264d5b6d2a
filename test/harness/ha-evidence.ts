// Evidence for the HA checks (checkers/ha.ts), gathered while HA faults run:
// - LineLog: every line a lab process prints, with the time the test process received it (masters'
//   and orchestrators' `elected`/`deposed` JSON lines carry no time of their own), parsed as JSON or
//   as a Corral log line (which carries the process's own timestamp).
// - readStoreHistory: the whole history of the shared etcd, replayed from revision 1 through forwarded
//   client ports (etcd keeps every revision until compacted; these clusters never compact). Every
//   election key's creation and deletion and every registry write, in commit order: the ground truth
//   of who led at each revision and what landed while they did.
import { openStore } from '../../src/store/open.ts';
import type { LabProcess } from './proc.ts';

export interface Line {
  /** When the test process received it (epoch ms). */
  at: number;
  stream: 'stdout' | 'stderr';
  text: string;
  /** Parsed JSON (a --json event line). */
  json?: any;
  /** A Corral log line: its own timestamp, level, component, message and fields. */
  log?: { ts: number; level: string; component: string; msg: string; fields: any };
}

const LOG_LINE = /^(\d{4}-\d\d-\d\dT[\d:.]+Z) (DEBUG|INFO|WARN|ERROR)\s+\[([^\]]+)\] (.*?)(?: (\{.*\}))?$/;

export function parseLine(at: number, stream: Line['stream'], text: string): Line {
  const line: Line = { at, stream, text };
  if (text.startsWith('{')) {
    try {
      line.json = JSON.parse(text);
    } catch {
      // not JSON after all
    }
  }
  const m = LOG_LINE.exec(text);
  if (m) {
    let fields: any = {};
    try {
      fields = m[5] ? JSON.parse(m[5]) : {};
    } catch {
      // a message that happens to end in braces
    }
    line.log = { ts: Date.parse(m[1]!), level: m[2]!, component: m[3]!, msg: m[4]!, fields };
  }
  return line;
}

/** Every line of one process, timestamped on arrival, kept across its lifetime (and restarts, via attach). */
export class LineLog {
  readonly lines: Line[] = [];
  private readonly detach: (() => void)[] = [];

  attach(proc: LabProcess): void {
    const offsets = { stdout: 0, stderr: 0 };
    const pending = { stdout: '', stderr: '' };
    const take = () => {
      const at = Date.now();
      for (const stream of ['stdout', 'stderr'] as const) {
        const all = proc[stream];
        if (all.length === offsets[stream]) continue;
        const text = pending[stream] + all.slice(offsets[stream]);
        offsets[stream] = all.length;
        const parts = text.split('\n');
        pending[stream] = parts.pop() ?? '';
        for (const p of parts) if (p.trim()) this.lines.push(parseLine(at, stream, p));
      }
    };
    this.detach.push(proc.watch(take));
    take();
  }

  json(event: string): Line[] {
    return this.lines.filter((l) => l.json?.event === event);
  }

  logs(msg: RegExp): Line[] {
    return this.lines.filter((l) => l.log && msg.test(l.log.msg));
  }

  stop(): void {
    for (const d of this.detach.splice(0)) d();
  }
}

export interface HistoryEvent {
  type: 'put' | 'delete';
  key: string;
  revision: number;
  createRevision?: number;
  value?: string;
}

/**
 * The full history of the store at `etcdUrl` (etcd://127.0.0.1:P,… through forwards), replayed from
 * revision 1 up to the revision current when called. Bounded by `timeoutMs`.
 */
export async function readStoreHistory(etcdUrl: string, timeoutMs = 15_000): Promise<HistoryEvent[]> {
  const store = await openStore(etcdUrl);
  try {
    const upTo = await store.revision();
    const events: HistoryEvent[] = [];
    let last = 0;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        handle.cancel();
        reject(new Error(`store history: replayed up to revision ${last} of ${upTo} in ${timeoutMs} ms`));
      }, timeoutMs);
      const handle = store.watch(
        '',
        (ev) => {
          if (ev.type === 'put') events.push({ type: 'put', key: ev.kv.key, revision: ev.kv.revision, createRevision: ev.kv.createRevision, value: ev.kv.value });
          else events.push({ type: 'delete', key: ev.key, revision: ev.revision });
          last = Math.max(last, ev.type === 'put' ? ev.kv.revision : ev.revision);
          if (last >= upTo) {
            clearTimeout(timer);
            handle.cancel();
            resolve();
          }
        },
        {
          fromRevision: 1,
          onError: (e) => {
            clearTimeout(timer);
            reject(e);
          },
        },
      );
      if (upTo <= 1 && last >= upTo) {
        clearTimeout(timer);
        handle.cancel();
        resolve();
      }
    });
    return events.filter((e) => e.revision <= upTo).sort((a, b) => a.revision - b.revision);
  } finally {
    await store.close().catch(() => undefined);
  }
}

export interface AgentRegistration {
  /** The agent's own log timestamp. */
  ts: number;
  agentId: string;
  masterId: string;
  reregistered: boolean;
}

/** (Re-)registrations an agent logged (needs --log-level info), in order. */
export function agentRegistrations(log: LineLog): AgentRegistration[] {
  return log.logs(/^(re-)?registered with the master$/).map((l) => ({
    ts: l.log!.ts,
    agentId: String(l.log!.fields.agent_id ?? ''),
    masterId: String(l.log!.fields.master_id ?? ''),
    reregistered: l.log!.msg.startsWith('re-'),
  }));
}

/** Commands the agent refused because they came from a master it is not registered with (a deposed one). */
export function refusedMasters(log: LineLog): { ts: number; masterId: string }[] {
  const out: { ts: number; masterId: string }[] = [];
  for (const l of log.logs(/^re-registering with the master$/)) {
    const m = /message from unknown master (\S+)/.exec(String(l.log!.fields.reason ?? ''));
    if (m) out.push({ ts: l.log!.ts, masterId: m[1]! });
  }
  return out;
}
