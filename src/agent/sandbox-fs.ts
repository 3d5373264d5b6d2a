// File-system chores around a run that stay off the launch's critical path.
import fs from 'node:fs';
import path from 'node:path';

/** runs/latest → the newest run (replaced atomically; asynchronous, it is cosmetic). */
export function linkLatest(runDir: string): void {
  const runs = path.dirname(runDir);
  const tmp = path.join(runs, `.latest.${path.basename(runDir)}`);
  fs.promises
    .symlink(path.basename(runDir), tmp)
    .then(() => fs.promises.rename(tmp, path.join(runs, 'latest')))
    .catch(() => fs.promises.rm(tmp, { force: true }).catch(() => undefined));
}

/** Removes a completed run's checkpoint (the sandbox stays for operators to read). */
export function removeRunMeta(metaDir: string): void {
  fs.rm(metaDir, { recursive: true, force: true }, () => undefined);
}
