// POST /api/v1/scheduler: the HTTP rules of Mesos's `Master::Http::scheduler`
// (mesos.md §1.1), checked in Mesos's order, then the call's semantics.
// Errors are text/plain, as Mesos answers them.
import type { Handler, Reply, RequestContext } from '../http/server.ts';
import { ValidationError } from '../protocol/errors.ts';
import { parseCall, type Call } from '../protocol/scheduler.ts';
import { planAccept } from './accept.ts';
import { convertAgentResources } from './operations.ts';
import type { MasterContext } from './context.ts';
import { APPLICATION_JSON, APPLICATION_PROTOBUF, acceptsMediaType, mediaType, text } from './http-util.ts';
import type { FrameworkEntry } from './state.ts';

const ACCEPTED: Reply = { status: 202 };

export function schedulerHandler(ctx: MasterContext): Handler {
  return async (rc: RequestContext) => {
    if (rc.method !== 'POST') return text(405, 'Expecting POST', { allow: 'POST' });
    const contentType = rc.req.headers['content-type'];
    if (contentType === undefined) return text(400, "Expecting 'Content-Type' to be present");
    const type = mediaType(contentType);
    if (type === APPLICATION_PROTOBUF)
      return text(415, "Content-Type 'application/x-protobuf' is not supported by this master; use 'application/json'");
    if (type !== APPLICATION_JSON) return text(415, "Expecting 'Content-Type' of application/json or application/x-protobuf");

    const raw = await rc.raw(); // over 4 MiB → 413
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch (e) {
      return text(400, `Failed to parse body into JSON: ${(e as Error).message}`);
    }
    let call: Call;
    try {
      call = parseCall(body);
    } catch (e) {
      if (e instanceof ValidationError) return text(400, `Failed to validate scheduler::Call: ${e.message}`);
      throw e;
    }

    if (call.type === 'SUBSCRIBE') {
      if (!acceptsMediaType(rc.req.headers.accept, APPLICATION_JSON))
        return text(406, "Expecting 'Accept' to allow application/json (application/x-protobuf is not supported)");
      if (rc.req.headers['mesos-stream-id'] !== undefined) return text(400, "Subscribe calls should not include the 'Mesos-Stream-Id' header");
      await ctx.frameworks.subscribe(rc.res, call);
      return undefined;
    }
    // parseCall lets an UNKNOWN call through without framework_id: nothing to look up.
    if (call.type === 'UNKNOWN' && !call.framework_id) return text(501, "Received 'UNKNOWN' call");

    const fw = ctx.state.frameworks.get(call.framework_id!.value);
    if (!fw) return text(400, 'Framework cannot be found');
    if (!fw.connected) return text(403, 'Framework is not subscribed');
    const streamId = rc.req.headers['mesos-stream-id'];
    if (streamId === undefined) return text(400, "All non-subscribe calls should include the 'Mesos-Stream-Id' header");
    if (streamId !== fw.streamId)
      return text(
        400,
        `The stream ID '${String(streamId)}' included in this request didn't match the stream ID currently associated with framework ID ${fw.id}`,
      );
    return dispatchCall(ctx, fw, call);
  };
}

/** The semantics of every non-SUBSCRIBE call of a subscribed framework. */
export async function dispatchCall(ctx: MasterContext, fw: FrameworkEntry, call: Call): Promise<Reply> {
  const { metrics } = ctx;
  metrics.frameworkCall(fw.id, call);
  switch (call.type) {
    case 'TEARDOWN':
      metrics.inc('master/messages_unregister_framework');
      ctx.frameworks.remove(fw, {});
      return ACCEPTED;
    case 'ACCEPT':
      metrics.inc('master/messages_launch_tasks');
      accept(ctx, fw, call.accept!);
      return ACCEPTED;
    case 'DECLINE':
      metrics.inc('master/messages_decline_offers');
      decline(ctx, fw, call.decline!);
      return ACCEPTED;
    case 'ACCEPT_INVERSE_OFFERS':
    case 'DECLINE_INVERSE_OFFERS':
      return ACCEPTED; // this master makes no inverse offers
    case 'REVIVE':
      metrics.inc('master/messages_revive_offers');
      ctx.frameworks.revive(fw, call.revive);
      return ACCEPTED;
    case 'SUPPRESS':
      metrics.inc('master/messages_suppress_offers');
      ctx.frameworks.suppress(fw, call.suppress);
      return ACCEPTED;
    case 'KILL':
      ctx.tasks.kill(fw, call.kill!);
      return ACCEPTED;
    case 'SHUTDOWN':
      return ACCEPTED; // command executors end with their task; nothing to shut down
    case 'ACKNOWLEDGE':
      ctx.tasks.acknowledge(fw, call.acknowledge!);
      return ACCEPTED;
    case 'ACKNOWLEDGE_OPERATION_STATUS':
      metrics.inc('master/messages_operation_status_update_acknowledgement');
      metrics.inc('master/invalid_operation_status_update_acknowledgements'); // no operation feedback exists here
      return ACCEPTED;
    case 'RECONCILE':
      metrics.inc('master/messages_reconcile_tasks');
      ctx.tasks.reconcile(fw, call.reconcile?.tasks ?? []);
      return ACCEPTED;
    case 'RECONCILE_OPERATIONS':
      metrics.inc('master/messages_reconcile_operations');
      return ACCEPTED;
    case 'MESSAGE': {
      metrics.inc('master/messages_framework_to_executor');
      const agent = ctx.state.agents.get(call.message!.agent_id.value);
      if (!agent || agent.status !== 'registered') metrics.inc('master/invalid_framework_to_executor_messages');
      else {
        // Best effort: the agent protocol has no framework-message channel, so it goes no further.
        metrics.inc('master/valid_framework_to_executor_messages');
        metrics.inc('master/dropped_messages');
      }
      return ACCEPTED;
    }
    case 'REQUEST':
      metrics.inc('master/messages_resource_request');
      return ACCEPTED;
    case 'UPDATE_FRAMEWORK':
      await ctx.frameworks.update(fw, call.update_framework!);
      return { status: 200 };
    case 'UNKNOWN':
      return text(501, "Received 'UNKNOWN' call");
    case 'SUBSCRIBE':
      throw new ValidationError('SUBSCRIBE is handled before dispatch');
  }
}

function accept(ctx: MasterContext, fw: FrameworkEntry, call: NonNullable<Call['accept']>): void {
  const plan = planAccept(ctx.state, fw, call);
  if (plan.kind === 'invalid-offers') {
    ctx.log.warn('ACCEPT with invalid offers', { framework: fw.id, error: plan.error });
    for (const o of plan.ownOffers) ctx.offers.discard(o);
    ctx.tasks.reject(fw, plan.rejections);
    if (plan.ownOffers.length) ctx.offers.schedule();
    return;
  }
  for (const o of plan.offers) ctx.offers.discard(o);
  if (plan.conversions.length) convertAgentResources(ctx, plan.agent, plan.conversions);
  ctx.metrics.acceptOperations(call.operations ?? [], plan.operationErrors);
  if (plan.operationErrors.length) ctx.log.warn('invalid offer operations dropped', { framework: fw.id, errors: plan.operationErrors });
  ctx.tasks.reject(fw, plan.rejections);
  ctx.tasks.launch(fw, plan.agent, plan.launches);
  for (const [role, unused] of plan.unused) ctx.offers.refuse(fw.id, role, plan.agent.id, unused, call.filters?.refuse_seconds);
  if (plan.skippedOperations.length) ctx.log.warn('unsupported offer operations ignored', { framework: fw.id, operations: plan.skippedOperations });
  ctx.offers.schedule();
}

function decline(ctx: MasterContext, fw: FrameworkEntry, call: NonNullable<Call['decline']>): void {
  for (const { value } of call.offer_ids) {
    const o = ctx.state.offers.get(value);
    if (!o || o.frameworkId !== fw.id) continue; // no longer valid: ignored, as Mesos does
    ctx.offers.discard(o);
    ctx.offers.refuse(fw.id, o.role, o.agentId, o.resources, call.filters?.refuse_seconds);
  }
  ctx.offers.schedule();
}
