// POST /internal/v1/agent: agent → master messages (src/protocol/internal.ts),
// validated with the protocol schema; the reply is a MasterReply.
import type { Handler } from '../http/server.ts';
import { AgentToMaster } from '../protocol/internal.ts';
import { parseOrThrow } from '../protocol/validate.ts';
import type { MasterContext } from './context.ts';

export function agentMessageHandler(ctx: MasterContext): Handler {
  return async (rc) => {
    const msg = parseOrThrow(AgentToMaster, await rc.json(), 'message');
    return { status: 200, body: await ctx.agents.handle(msg) };
  };
}
