// `corral why APP` against a real `corral dev` (master, agent, orchestrator): an app whose constraint no
// agent satisfies is "waiting for offers" with the number of offers that constraint declined; an app
// whose command exits 3 "keeps failing" with that exit status and its backoff; a healthy one is at target.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { eventually, jsonLines, startCluster, type Cluster } from '../support/cluster.ts';

describe('corral why', () => {
  let cluster: Cluster;
  let orch: string;
  const env = () => ({ CORRAL_ORCHESTRATOR: orch });
  const get = async (path: string) => {
    const res = await fetch(orch + path);
    assert.equal(res.status, 200, `GET ${path}: ${res.status}`);
    return res.json() as Promise<any>;
  };
  const post = async (app: unknown) => {
    const res = await fetch(`${orch}/v2/apps`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(app) });
    assert.equal(res.status, 201, await res.text());
  };

  before(async () => {
    cluster = await startCluster({ args: ['--allocation-interval-ms', '100'] });
    orch = jsonLines(cluster.process.stdout).find((o) => o.event === 'ready').orchestrator;
    const base = { instances: 1, cpus: 0.01, mem: 16 };
    await Promise.all([
      post({ ...base, id: '/why/nowhere', cmd: 'sleep 1000', constraints: [['hostname', 'LIKE', 'nope']] }),
      post({ ...base, id: '/why/crash', cmd: 'echo starting; exit 3', backoffSeconds: 60 }),
      post({ ...base, id: '/why/fine', cmd: 'sleep 1000' }),
    ]);
  });
  after(() => cluster?.stop());

  it('names the constraint that declined the offers', async () => {
    const item = await eventually(
      async () => (await get('/v2/queue?embed=constraintRejections')).queue.find((q: any) => q.app.id === '/why/nowhere' && q.constraintRejections['hostname:LIKE:nope'] > 0),
      15_000,
      'offers declined by the constraint',
    );
    const r = await cluster.cli(['why', '/why/nowhere'], { env: env() });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^\/why\/nowhere is not at its target: 0 of 1 instance running\.$/m);
    assert.match(r.stdout, /^- waiting for offers: \d+ offers? declined because of the constraint hostname LIKE nope — 1 instance to launch, waiting since \d+s ago$/m);
    assert.ok(item.processedOffersSummary.rejectSummaryLastOffers.find((x: any) => x.reason === 'UnfulfilledConstraint').declined > 0);
    // Marathon clients see the usual queue document unless they ask.
    assert.equal((await get('/v2/queue')).queue[0].constraintRejections, undefined);
  });

  it('says a crash-looping app keeps failing, with the exit status and the backoff', async () => {
    await eventually(async () => (await get('/v2/apps/why/crash')).app.lastTaskFailure, 15_000, 'a task failure of /why/crash');
    const r = await cluster.cli(['why', 'why/crash'], { env: env() });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^- tasks keep failing: last failure \d+s ago on \S+: TASK_FAILED, Command exited with status 3 \(exit code 3\), backing off: the next launch is in \d+s$/m);
    const j = await cluster.cli(['why', '/why/crash', '--json'], { env: env() });
    const why = JSON.parse(j.stdout);
    assert.equal(why.atTarget, false);
    assert.deepEqual(why.reasons.map((x: any) => x.kind), ['failing']);
  });

  it('an app at its target says so; an unknown app is an error', async () => {
    await eventually(async () => (await get('/v2/apps/why/fine')).app.tasksRunning === 1, 15_000, '/why/fine running');
    const r = await cluster.cli(['why', '/why/fine'], { env: env() });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '/why/fine is at its target: 1 of 1 instance running.\n');
    const missing = await cluster.cli(['why', '/why/missing'], { env: env() });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no app \/why\/missing/);
  });
});
