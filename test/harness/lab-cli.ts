// `scripts/lab`: the fault lab for people. `up N` builds a lab that outlives the command (master and
// orchestrator on h0, an agent on each of h1..hN, each a detached process logging to the lab's state dir),
// and the other commands act on it by id (the last one brought up, unless --lab ID is given).
//
//   scripts/lab up N              build the lab and start the cluster; prints addresses and how to use them
//   scripts/lab status            hosts, links and processes of the lab
//   scripts/lab exec I -- CMD…    run CMD inside host I's namespace (e.g. corral commands against the master)
//   scripts/lab crash-host I      kill every process on host I at once (SIGKILL)
//   scripts/lab start-agent I     (re)start host I's agent on its work dir (after crash-host, or a kill)
//   scripts/lab partition I       cut host I off the bridge (packets vanish both ways)
//   scripts/lab heal I            reconnect host I (also removes loss and netem)
//   scripts/lab loss I PCT        drop PCT % of host I's packets at random, each direction (nftables; 0 removes it)
//   scripts/lab netem I DELAY_MS [LOSS_PCT]   latency/loss on host I's link (latency needs sch_netem in the kernel)
//   scripts/lab logs I            print the logs of host I's processes
//   scripts/lab down              kill everything and delete every namespace of the lab
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { CORRAL_BIN, REPO_ROOT, jsonLines } from '../support/cluster.ts';
import { AGENT_PORT, MASTER_PORT, ORCHESTRATOR_PORT, agentPorts } from './cluster.ts';
import { Lab, createLab, LabUnsupportedError, netemSupported } from './lab.ts';
import { LAB_STATE_ROOT, isAlive, namespacePids, readLabRecord, teardownLab } from './netns.ts';

const CURRENT = path.join(LAB_STATE_ROOT, 'current');

interface ProcEntry {
  name: string;
  host: number;
  pid: number;
  log: string;
  argv: string[];
}

function die(msg: string, code = 1): never {
  process.stderr.write(`lab: ${msg}\n`);
  process.exit(code);
}

function usage(): never {
  const text = fs.readFileSync(new URL(import.meta.url), 'utf8');
  const lines = text.split('\n').filter((l) => l.startsWith('//   scripts/lab'));
  process.stderr.write(`usage:\n${lines.map((l) => l.slice(2)).join('\n')}\n`);
  process.exit(2);
}

function procsFile(stateDir: string): string {
  return path.join(stateDir, 'processes.json');
}
function readProcs(stateDir: string): ProcEntry[] {
  try {
    return JSON.parse(fs.readFileSync(procsFile(stateDir), 'utf8')) as ProcEntry[];
  } catch {
    return [];
  }
}
function writeProcs(stateDir: string, procs: ProcEntry[]): void {
  fs.writeFileSync(procsFile(stateDir), JSON.stringify(procs, null, 2));
}

function currentLab(explicit?: string): Lab {
  const id = explicit ?? (fs.existsSync(CURRENT) ? fs.readFileSync(CURRENT, 'utf8').trim() : '');
  if (!id) die('no lab is up (scripts/lab up N)');
  const rec = readLabRecord(id);
  if (!rec) die(`lab ${id} does not exist any more (scripts/lab up N)`);
  return Lab.attach(rec);
}

/** Starts a detached process in host `host`'s namespace, logging to a file; waits for a JSON line. */
async function startDetached(lab: Lab, host: number, name: string, args: string[], ready: (o: any) => boolean): Promise<ProcEntry> {
  const logDir = path.join(lab.stateDir, 'logs');
  fs.mkdirSync(logDir, { recursive: true });
  const log = path.join(logDir, `h${host}-${name}.log`);
  const fd = fs.openSync(log, 'a');
  const argv = [process.execPath, CORRAL_BIN, ...args];
  const env = { ...process.env, NO_COLOR: '1', CORRAL_LOG_LEVEL: process.env.CORRAL_LOG_LEVEL ?? 'info' };
  const child = spawn('ip', ['netns', 'exec', lab.host(host).ns, ...argv], { cwd: REPO_ROOT, env, stdio: ['ignore', fd, fd], detached: true });
  child.unref();
  fs.closeSync(fd);
  const entry: ProcEntry = { name, host, pid: child.pid!, log, argv };
  const deadline = Date.now() + 30_000;
  for (;;) {
    const text = fs.readFileSync(log, 'utf8');
    if (jsonLines(text).some(ready)) return entry;
    if (!isAlive(entry.pid)) die(`${name} on h${host} exited while starting:\n${text.slice(-3000)}`);
    if (Date.now() > deadline) die(`${name} on h${host} did not get ready within 30 s:\n${text.slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function agentArgs(lab: Lab, i: number): string[] {
  const h = lab.host(i);
  const p = agentPorts(i);
  return [
    'agent',
    '--master',
    lab.url(0, MASTER_PORT),
    '--host',
    h.address,
    '--port',
    String(AGENT_PORT),
    '--work-dir',
    path.join(h.dir, 'agent'),
    '--resources',
    `cpus:2;mem:2048;disk:4096;ports:[${p.begin}-${p.end}]`,
    '--json',
  ];
}

async function up(n: number): Promise<void> {
  let lab: Lab;
  try {
    lab = await createLab({ hosts: n, persistent: true });
  } catch (e) {
    if (e instanceof LabUnsupportedError) die(e.message);
    throw e;
  }
  fs.writeFileSync(CURRENT, lab.id);
  const h0 = lab.host(0);
  const procs: ProcEntry[] = [];
  try {
    procs.push(
      await startDetached(
        lab,
        0,
        'master',
        ['master', '--data-dir', path.join(h0.dir, 'master'), '--host', h0.address, '--port', String(MASTER_PORT), '--json'],
        (o) => o.event === 'ready',
      ),
    );
    writeProcs(lab.stateDir, procs);
    for (let i = 1; i <= n; i++) {
      procs.push(await startDetached(lab, i, 'agent', agentArgs(lab, i), (o) => o.event === 'registered'));
      writeProcs(lab.stateDir, procs);
    }
    procs.push(
      await startDetached(
        lab,
        0,
        'orchestrator',
        ['orchestrator', '--master', lab.url(0, MASTER_PORT), '--host', h0.address, '--port', String(ORCHESTRATOR_PORT), '--data-dir', path.join(h0.dir, 'orchestrator'), '--json'],
        (o) => o.event === 'ready',
      ),
    );
    writeProcs(lab.stateDir, procs);
  } catch (e) {
    teardownLab(lab.id);
    throw e;
  }
  process.stdout.write(
    [
      `lab ${lab.id} is up (${lab.subnet}); state and logs in ${lab.stateDir}`,
      `  master        ${lab.url(0, MASTER_PORT)}   (h0)`,
      `  orchestrator  ${lab.url(0, ORCHESTRATOR_PORT)}   (h0)`,
      ...lab.hosts.slice(1).map((h) => `  agent h${h.index}      ${lab.url(h.index, AGENT_PORT)}   ports ${agentPorts(h.index).begin}-${agentPorts(h.index).end}`),
      `These addresses exist only inside the lab; run clients there, e.g.:`,
      `  scripts/lab exec 0 -- node bin/corral.js cluster status --master ${lab.url(0, MASTER_PORT)}`,
      `  scripts/lab exec 0 -- env CORRAL_ORCHESTRATOR=${lab.url(0, ORCHESTRATOR_PORT)} node bin/corral.js app list`,
      `Faults: scripts/lab crash-host 1 | partition 1 | heal 1 | start-agent 1;  scripts/lab down when done.`,
      '',
    ].join('\n'),
  );
}

function status(lab: Lab): void {
  const procs = readProcs(lab.stateDir);
  const lines = [`lab ${lab.id} (${lab.subnet})`];
  for (const h of lab.hosts) {
    const port = spawnSync('ip', ['-n', lab.bridgeNs, '-o', 'link', 'show', h.bridgePort], { encoding: 'utf8' }).stdout;
    const link = / master br0 /.test(port) && /state UP|,UP/.test(port) ? 'connected' : 'PARTITIONED';
    const pids = namespacePids(h.ns);
    lines.push(`  h${h.index} ${h.ns} ${h.address} ${link}${lossOf(lab, h.bridgePort)}, ${pids.length} process(es)`);
    for (const p of procs.filter((x) => x.host === h.index)) lines.push(`      ${p.name} pid ${p.pid} ${isAlive(p.pid) ? 'running' : 'gone'}  (${p.log})`);
  }
  process.stdout.write(lines.join('\n') + '\n');
}

/** ", loss N %" when the lab's loss table for this bridge port exists (see Lab.loss), else "". */
function lossOf(lab: Lab, port: string): string {
  const r = spawnSync('ip', ['netns', 'exec', lab.bridgeNs, 'nft', 'list', 'table', 'bridge', `crl_loss_${port}`], { encoding: 'utf8' });
  if (r.status !== 0) return '';
  const m = /mod 10000 < (\d+)/.exec(r.stdout);
  return `, loss ${m ? Number(m[1]) / 100 : 100} %`;
}

function hostArg(lab: Lab, s: string | undefined): number {
  const i = Number(s);
  if (s === undefined || !Number.isInteger(i) || i < 0 || i >= lab.hosts.length) die(`expected a host index 0…${lab.hosts.length - 1}, got ${s ?? 'nothing'}`, 2);
  return i;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  let labId: string | undefined;
  const li = args.indexOf('--lab');
  if (li >= 0) {
    labId = args[li + 1];
    args.splice(li, 2);
  }
  const [cmd, ...rest] = args;
  switch (cmd) {
    case 'up': {
      const n = Number(rest[0] ?? 3);
      if (!Number.isInteger(n) || n < 1 || n > 50) die('scripts/lab up N: N agent hosts, 1…50', 2);
      return up(n);
    }
    case 'down': {
      const lab = currentLab(labId);
      const r = teardownLab(lab.id);
      if (fs.existsSync(CURRENT) && fs.readFileSync(CURRENT, 'utf8').trim() === lab.id) fs.rmSync(CURRENT);
      process.stdout.write(`lab ${lab.id} removed: ${r.namespaces.length} namespaces deleted, ${r.killed} processes killed\n`);
      return;
    }
    case 'status':
      return status(currentLab(labId));
    case 'crash-host': {
      const lab = currentLab(labId);
      const i = hostArg(lab, rest[0]);
      const killed = await lab.crashHost(i);
      process.stdout.write(`h${i}: killed ${killed.length} process(es): ${killed.join(' ')}\n`);
      return;
    }
    case 'start-agent': {
      const lab = currentLab(labId);
      const i = hostArg(lab, rest[0]);
      if (i === 0) die('h0 runs the master, not an agent', 2);
      const procs = readProcs(lab.stateDir).filter((p) => !(p.host === i && p.name === 'agent'));
      procs.push(await startDetached(lab, i, 'agent', agentArgs(lab, i), (o) => o.event === 'registered'));
      writeProcs(lab.stateDir, procs);
      process.stdout.write(`h${i}: agent started and registered\n`);
      return;
    }
    case 'partition': {
      const lab = currentLab(labId);
      const i = hostArg(lab, rest[0]);
      lab.partition(i, { mode: rest.includes('--down') ? 'down' : 'blackhole' });
      process.stdout.write(`h${i} partitioned\n`);
      return;
    }
    case 'heal': {
      const lab = currentLab(labId);
      const i = hostArg(lab, rest[0]);
      lab.heal(i);
      process.stdout.write(`h${i} healed\n`);
      return;
    }
    case 'loss': {
      const lab = currentLab(labId);
      const i = hostArg(lab, rest[0]);
      const pct = Number(rest[1]);
      if (rest[1] === undefined || !(pct >= 0 && pct <= 100)) die('scripts/lab loss I PCT: PCT is a percentage 0…100', 2);
      try {
        lab.loss(i, pct);
      } catch (e) {
        die((e as Error).message);
      }
      process.stdout.write(pct ? `h${i}: ${pct} % of its packets dropped in each direction (scripts/lab heal ${i} removes it)\n` : `h${i}: no loss\n`);
      return;
    }
    case 'netem': {
      const lab = currentLab(labId);
      const i = hostArg(lab, rest[0]);
      try {
        lab.netem(i, { delayMs: Number(rest[1] ?? 0), lossPct: Number(rest[2] ?? 0) });
      } catch (e) {
        die((e as Error).message);
      }
      process.stdout.write(`h${i}: ${netemSupported() ? 'netem on' : 'loss on (nftables; no netem here)'}\n`);
      return;
    }
    case 'exec': {
      const lab = currentLab(labId);
      const i = hostArg(lab, rest[0]);
      const dash = rest.indexOf('--');
      const command = dash >= 0 ? rest.slice(dash + 1) : rest.slice(1);
      if (command.length === 0) die('scripts/lab exec I -- COMMAND…', 2);
      const r = spawnSync('ip', ['netns', 'exec', lab.host(i).ns, ...command], { stdio: 'inherit', cwd: process.cwd() });
      process.exit(r.status ?? 1);
    }
    case 'logs': {
      const lab = currentLab(labId);
      const i = hostArg(lab, rest[0]);
      for (const p of readProcs(lab.stateDir).filter((x) => x.host === i)) {
        process.stdout.write(`==> ${p.log} <==\n`);
        process.stdout.write(fs.existsSync(p.log) ? fs.readFileSync(p.log, 'utf8') : '(no log)\n');
      }
      return;
    }
    default:
      usage();
  }
}

await main();
