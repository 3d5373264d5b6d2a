// Master → agent messages over the injected Transport. Messages about one task
// wait for that task's RUN_TASK delivery, so an agent never sees a KILL_TASK
// before the task it names; everything else is sent at once (no head-of-line
// blocking across tasks).
import { UnavailableError } from '../protocol/errors.ts';
import { MASTER_MESSAGE_PATH, type AgentReply, type MasterToAgent } from '../protocol/internal.ts';
import type { Logger } from '../runtime/log.ts';
import type { Transport } from '../runtime/transport.ts';
import type { MasterMetrics } from './metrics.ts';
import type { AgentEntry } from './state.ts';

export type OutboundMessage = MasterToAgent extends infer M ? (M extends { master_id: string } ? Omit<M, 'master_id'> : never) : never;

export class AgentLink {
  constructor(
    private readonly transport: Transport,
    private readonly masterId: () => string,
    private readonly metrics: MasterMetrics,
    private readonly log: Logger,
  ) {}

  static messageUrl(endpoint: string): string {
    const base = endpoint.replace(/\/+$/, '');
    return base.endsWith(MASTER_MESSAGE_PATH) ? base : base + MASTER_MESSAGE_PATH;
  }

  /**
   * Delivers one message; resolves with the agent's reply. Rejects with UnavailableError when the
   * agent cannot be reached or refuses the message (non-2xx or UNKNOWN_AGENT).
   */
  async send(agent: AgentEntry, msg: OutboundMessage, opts: { after?: Promise<void>; timeoutMs?: number } = {}): Promise<AgentReply> {
    if (opts.after) await opts.after.catch(() => undefined);
    const url = AgentLink.messageUrl(agent.endpoint);
    const res = await this.transport.post(url, { ...msg, master_id: this.masterId() }, { timeoutMs: opts.timeoutMs });
    const body = res.body as AgentReply | undefined;
    if (res.status < 200 || res.status >= 300)
      throw new UnavailableError(`agent ${agent.id} answered ${msg.type} with HTTP ${res.status}`, { status: res.status, body: res.body });
    if (body && typeof body === 'object' && body.type === 'UNKNOWN_AGENT')
      throw new UnavailableError(`agent at ${agent.endpoint} does not know itself as ${agent.id}`);
    return body && typeof body === 'object' ? body : { type: 'ACCEPTED' };
  }

  /** Best-effort delivery: failures are logged and counted as dropped messages. */
  fire(agent: AgentEntry, msg: OutboundMessage, opts: { after?: Promise<void>; timeoutMs?: number } = {}): void {
    this.send(agent, msg, opts).catch((e) => {
      this.metrics.inc('master/dropped_messages');
      this.log.warn('message to agent dropped', { agent: agent.id, type: msg.type, error: (e as Error).message });
    });
  }
}
