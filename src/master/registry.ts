// The master's durable registry (Mesos's registrar): admitted agents, known
// frameworks and the master's info, as JSON values under one Store prefix.
// Only registry changes are persisted; task state is rebuilt from agents.
// Writes to one key are applied in call order. Under HA every write carries the
// leadership term's fence (its election key at its revision), so a deposed leader
// cannot overwrite anything: its write fails with ConflictError and onFenceLost runs.
import { z } from 'zod';
import { ConflictError, UnavailableError } from '../protocol/errors.ts';
import { FrameworkInfo, ID, type MasterInfo } from '../protocol/mesos.ts';
import { WireAgentInfo } from '../protocol/internal.ts';
import type { Logger } from '../runtime/log.ts';
import type { Condition, Op, Store } from '../store/store.ts';

export const REGISTRY_PREFIX = '/corral/registry';

const AgentRecord = z.object({
  agent_info: WireAgentInfo.extend({ id: ID }),
  endpoint: z.string(),
  version: z.string(),
  registered_time: z.number().optional(),
  unreachable_time: z.number().optional(),
});
export type AgentRecord = z.infer<typeof AgentRecord>;

const FrameworkRecord = z.object({
  framework_info: FrameworkInfo.extend({ id: ID }),
  registered_time: z.number().optional(),
});
export type FrameworkRecord = z.infer<typeof FrameworkRecord>;

export interface RegistrySnapshot {
  agents: AgentRecord[];
  frameworks: FrameworkRecord[];
}

export interface RegistryOptions {
  prefix?: string;
  /** Conditions every write is made under (the term's fence); none for a single master. */
  fence?: readonly Condition[];
  /** A write failed because the fence no longer holds: leadership is lost. */
  onFenceLost?: (err: ConflictError) => void;
}

export class Registry {
  private readonly chains = new Map<string, Promise<unknown>>();
  private readonly prefix: string;
  private readonly fence: Condition[];
  private sealed = false;

  constructor(
    private readonly store: Store,
    private readonly log: Logger,
    private readonly opts: RegistryOptions = {},
  ) {
    this.prefix = opts.prefix ?? REGISTRY_PREFIX;
    this.fence = [...(opts.fence ?? [])];
  }

  /** Refuses every later write (the term ended): even one whose fence would still hold for a moment. */
  seal(): void {
    this.sealed = true;
  }

  private agentKey = (id: string) => `${this.prefix}/agents/${id}`;
  private frameworkKey = (id: string) => `${this.prefix}/frameworks/${id}`;

  async load(): Promise<RegistrySnapshot> {
    const agents: AgentRecord[] = [];
    const frameworks: FrameworkRecord[] = [];
    for (const kv of await this.store.range(`${this.prefix}/agents/`)) {
      const rec = this.decode(AgentRecord, kv.key, kv.value);
      if (rec) agents.push(rec);
    }
    for (const kv of await this.store.range(`${this.prefix}/frameworks/`)) {
      const rec = this.decode(FrameworkRecord, kv.key, kv.value);
      if (rec) frameworks.push(rec);
    }
    return { agents, frameworks };
  }

  putAgent(rec: AgentRecord): Promise<void> {
    return this.write(this.agentKey(rec.agent_info.id.value), JSON.stringify(rec));
  }

  deleteAgent(id: string): Promise<void> {
    return this.write(this.agentKey(id), undefined);
  }

  putFramework(rec: FrameworkRecord): Promise<void> {
    return this.write(this.frameworkKey(rec.framework_info.id.value), JSON.stringify(rec));
  }

  deleteFramework(id: string): Promise<void> {
    return this.write(this.frameworkKey(id), undefined);
  }

  putMaster(info: MasterInfo): Promise<void> {
    return this.write(`${this.prefix}/master`, JSON.stringify({ master_info: info }));
  }

  /** Fire-and-forget write whose failure is logged (for transitions that need not block a reply). */
  background(what: string, p: Promise<void>): void {
    p.catch((e) => this.log.error('registry write failed', { what, error: (e as Error).message }));
  }

  private write(key: string, value: string | undefined): Promise<void> {
    const prev = this.chains.get(key) ?? Promise.resolve();
    const next = prev
      .catch(() => undefined)
      .then(async () => {
        if (this.sealed) throw new UnavailableError('this master no longer leads; registry write refused', { key });
        const op: Op = value === undefined ? { type: 'delete', key } : { type: 'put', key, value };
        try {
          await this.store.commit(this.fence, [op]);
        } catch (e) {
          // The ops are unconditional: only the fence can make the commit conflict.
          if (e instanceof ConflictError && this.fence.length > 0) {
            this.sealed = true;
            this.opts.onFenceLost?.(e);
          }
          throw e;
        }
      });
    this.chains.set(key, next);
    void next.finally(() => {
      if (this.chains.get(key) === next) this.chains.delete(key);
    }).catch(() => undefined);
    return next;
  }

  private decode<S extends z.ZodType>(schema: S, key: string, value: string): z.output<S> | undefined {
    try {
      const parsed = schema.safeParse(JSON.parse(value));
      if (parsed.success) return parsed.data;
      this.log.warn('ignoring malformed registry entry', { key, error: parsed.error.issues[0]?.message });
    } catch (e) {
      this.log.warn('ignoring unreadable registry entry', { key, error: (e as Error).message });
    }
    return undefined;
  }
}
