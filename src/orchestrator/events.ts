// The Marathon event bus: a typed, synchronous fan-out. A throwing listener is logged and
// never breaks the publisher (the runtime's state machine must not depend on listeners).
import type { Clock } from '../runtime/clock.ts';
import type { Logger } from '../runtime/log.ts';
import type { InstanceRecord, MarathonEvent, MarathonEventInput, MarathonEventBus, MarathonEventType } from './service.ts';
import { marathonTime } from './time.ts';

interface Sub {
  fn: (ev: MarathonEvent) => void;
  types?: ReadonlySet<MarathonEventType>;
}

export class EventBus implements MarathonEventBus {
  private readonly subs = new Set<Sub>();
  constructor(
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  subscribe(listener: (ev: MarathonEvent) => void, types?: readonly MarathonEventType[]): () => void {
    const sub: Sub = { fn: listener, types: types && types.length ? new Set(types) : undefined };
    this.subs.add(sub);
    return () => void this.subs.delete(sub);
  }

  publish(ev: MarathonEventInput): void {
    const full = { ...ev, timestamp: ev.timestamp ?? marathonTime(this.clock.now()) } as MarathonEvent;
    for (const sub of [...this.subs]) {
      if (sub.types && !sub.types.has(full.eventType)) continue;
      try {
        sub.fn(full);
      } catch (err) {
        this.log.warn('event listener threw', { eventType: full.eventType, error: (err as Error).message });
      }
    }
  }
}

/** Marathon's instance_changed_event for an instance's current condition and goal. */
export function instanceChangedEvent(inst: InstanceRecord): MarathonEventInput {
  return {
    eventType: 'instance_changed_event',
    instanceId: inst.instanceId,
    condition: inst.condition,
    runSpecId: inst.appId,
    agentId: inst.agentId,
    host: inst.host,
    runSpecVersion: inst.version,
    goal: inst.goal,
  };
}
