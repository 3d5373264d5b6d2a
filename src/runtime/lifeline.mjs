// Preloaded (`node --import …/lifeline.mjs`) into child processes whose supervisor holds their stdin
// open as a pipe and never writes to it: when the supervisor dies, however it dies (SIGKILL and OOM
// included), the kernel closes its end, stdin reaches EOF here, and the child stops itself with
// $CORRAL_LIFELINE_SIGNAL (default SIGTERM) — exactly once — then SIGKILL after
// $CORRAL_LIFELINE_GRACE_MS (default 30000) if it is still there.
//
// Why not PR_SET_PDEATHSIG (setpriv --pdeathsig, as for etcd in coordination/etcd-server.ts): the
// kernel sends that signal once per exiting thread of a multi-threaded parent (Node has several), and
// a second SIGTERM makes a `corral` command skip its graceful stop (an agent would leave its tasks).
//
// Armed only when CORRAL_LIFELINE=stdin (anything else: this module does nothing), and the variables
// are removed so that the child's own children do not inherit them. Plain JavaScript: it loads before
// tsx is registered.
const armed = process.env.CORRAL_LIFELINE === 'stdin';
const signal = process.env.CORRAL_LIFELINE_SIGNAL || 'SIGTERM';
const graceMs = Number(process.env.CORRAL_LIFELINE_GRACE_MS) || 30_000;
delete process.env.CORRAL_LIFELINE;
delete process.env.CORRAL_LIFELINE_SIGNAL;
delete process.env.CORRAL_LIFELINE_GRACE_MS;

if (armed) {
  let fired = false;
  const fire = () => {
    if (fired) return;
    fired = true;
    process.kill(process.pid, signal);
    if (signal !== 'SIGKILL') setTimeout(() => process.kill(process.pid, 'SIGKILL'), graceMs).unref();
  };
  process.stdin.on('end', fire);
  process.stdin.on('close', fire);
  process.stdin.on('error', fire);
  process.stdin.resume();
  // The pipe alone must not keep a child alive that has finished its work.
  process.stdin.unref?.();
}
