// Real-process HA clusters for tests: N `corral master --store etcd://…` and one `corral agent
// --master etcd://…` with test-speed timeouts, registered for cleanup, started and waited on together.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import type { SchedulerClient } from '../../src/client/scheduler-client.ts';
import type { TaskStatus } from '../../src/protocol/mesos.ts';
import { spawnCorral, type CorralProcess } from './cluster.ts';

/** Cleanups run in reverse order after the file's tests; a failing one is reported, not fatal. */
export function cleanupList(): (() => unknown)[] {
  const cleanups: (() => unknown)[] = [];
  after(async () => {
    for (const c of cleanups.splice(0).reverse()) {
      try {
        await c();
      } catch (e) {
        process.stderr.write(`cleanup failed: ${(e as Error).message}\n`);
      }
    }
  });
  return cleanups;
}

export async function stopProcess(p: CorralProcess): Promise<void> {
  if (!p.running) return;
  p.kill('SIGTERM');
  await p.waitForExit(5000).catch(() => p.kill('SIGKILL'));
}

export interface HaProcs {
  masters: CorralProcess[];
  /** The masters' URLs, in the order of `masters`. */
  urls: string[];
  agent: CorralProcess;
  agentUrl: string;
  workDir: string;
}

/** Starts `masters` HA masters and one agent on the etcd at `etcdUrl`, and waits until all are ready. */
export async function startHaProcs(
  cleanups: (() => unknown)[],
  etcdUrl: string,
  opts: { masters?: number; ttlMs: number; agentArgs?: string[] },
): Promise<HaProcs> {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'corral-ha-agent-'));
  cleanups.push(() => fs.rmSync(workDir, { recursive: true, force: true, maxRetries: 5 }));
  const masters = Array.from({ length: opts.masters ?? 3 }, () =>
    spawnCorral([
      'master', '--store', etcdUrl, '--port', '0', '--json', '--election-ttl-ms', String(opts.ttlMs),
      '--allocation-interval-ms', '100', '--agent-ping-timeout-ms', '500', '--agent-reregister-timeout-ms', '10000',
    ]),
  );
  for (const m of masters) cleanups.push(() => stopProcess(m));
  const agent = spawnCorral([
    'agent', '--master', etcdUrl, '--port', '0', '--work-dir', workDir, '--json',
    '--resources', 'cpus:2;mem:512;disk:100', '--status-update-retry-ms', '200', ...(opts.agentArgs ?? []),
  ]);
  cleanups.push(() => stopProcess(agent));
  const urls = await Promise.all(masters.map((m) => m.waitForJson((o) => o.event === 'ready', 15_000, 'master ready').then((o) => o.master as string)));
  const agentUrl = (await agent.waitForJson((o) => o.event === 'ready', 15_000, 'agent ready')).agent as string;
  return { masters, urls, agent, agentUrl, workDir };
}

/**
 * After a failover: explicit reconciliation of the task through `client` answers TASK_RUNNING, and the
 * leader at `leaderUrl` knows exactly that one task, running: nothing killed or duplicated.
 */
export async function assertTaskSurvived(client: SchedulerClient, leaderUrl: string, taskId: string, agentId: string): Promise<void> {
  await client.reconcile([{ taskId, agentId }]);
  const reconciled = await client.waitFor(
    (ev) => (ev.type === 'UPDATE' && (ev as any).update.status.task_id.value === taskId ? ((ev as any).update.status as TaskStatus) : undefined),
    5000,
    'the reconciliation update',
  );
  assert.equal(reconciled.state, 'TASK_RUNNING');
  const res = await fetch(`${leaderUrl}/master/tasks`, { redirect: 'manual', signal: AbortSignal.timeout(2000) });
  assert.equal(res.status, 200, `GET ${leaderUrl}/master/tasks`);
  const { tasks } = (await res.json()) as { tasks: { id: string; state: string }[] };
  assert.deepEqual(tasks.map((t) => [t.id, t.state]), [[taskId, 'TASK_RUNNING']], 'exactly one task, still running');
}
