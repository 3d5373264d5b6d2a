// Starts an agent from CLI-like flags, for tests that need the agent in its own process (crash/restart).
// Prints JSON lines on stdout: {"event":"listening",...} then {"event":"registered","agent_id":...}.
// SIGTERM: kill tasks and exit 0; SIGINT: exit leaving tasks running.
import { startAgent } from '../../src/agent/index.ts';
import { createLogger } from '../../src/runtime/log.ts';

function flags(argv: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) continue;
    const eq = a.indexOf('=');
    if (eq > 0) out[a.slice(2, eq)] = a.slice(eq + 1);
    else out[a.slice(2)] = argv[++i] ?? '';
  }
  return out;
}

const f = flags(process.argv.slice(2));
const num = (k: string): number | undefined => (f[k] !== undefined ? Number(f[k]) : undefined);
const emit = (o: object) => process.stdout.write(JSON.stringify(o) + '\n');

const agent = await startAgent({
  masterUrl: f.master ?? process.env.CORRAL_MASTER ?? 'http://127.0.0.1:5050',
  workDir: f.work_dir ?? process.env.CORRAL_WORK_DIR ?? '/tmp/corral-agent',
  host: f.ip,
  port: num('port') ?? 0,
  hostname: f.hostname,
  resources: f.resources,
  attributes: f.attributes,
  recover: f.recover as 'reconnect' | 'cleanup' | undefined,
  statusUpdateRetryMs: num('status_update_retry_ms'),
  registrationBackoffMs: num('registration_backoff_ms'),
  processPollMs: num('process_poll_ms'),
  log: createLogger('agent'),
  onShutdown: () => process.exit(0),
});
emit({ event: 'listening', url: agent.url, port: agent.port });
void agent.registered().then((id) => emit({ event: 'registered', agent_id: id }));
process.on('SIGTERM', () => void agent.close({ killTasks: true }).then(() => process.exit(0)));
process.on('SIGINT', () => void agent.close({ killTasks: false }).then(() => process.exit(0)));
