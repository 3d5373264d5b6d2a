// /files/browse, /files/read, /files/download, confined to task sandboxes.
// A path is either a real sandbox path (as /state's `directory` shows it), a work-dir-relative virtual path
// (/slaves/<agent>/frameworks/<fw>/executors/<ex>/runs/<container|latest>/...), or the short virtual form
// /frameworks/<fw>/executors/<ex>/runs/<container|latest>/... for this agent. Anything else is 404, any
// `..` segment 403, and a path whose real location (symlinks resolved) leaves its sandbox 403.
import fs from 'node:fs';
import path from 'node:path';
import { CorralError, ForbiddenError, NotFoundError, ValidationError } from '../protocol/errors.ts';
import type { Reply, RequestContext } from '../http/server.ts';
import { readIdNames } from './users.ts';

export const MAX_READ_LENGTH = 16 * 4096;

export interface FilesDeps {
  /** The work dir, already a real path. */
  workDir: string;
  agentId(): string | undefined;
}

interface Resolved {
  /** Real path of the target. */
  real: string;
  stat: fs.Stats;
}

const SANDBOX_DEPTH = 8; // slaves/<a>/frameworks/<f>/executors/<e>/runs/<c>

export class SandboxFiles {
  constructor(private deps: FilesDeps) {}

  /** Maps a requested path to its real location inside a sandbox, or throws 400/403/404. */
  async resolve(requested: string | null): Promise<Resolved> {
    if (requested === null || requested === '') throw new ValidationError("missing 'path' query parameter", 'path');
    if (requested.includes('\0')) throw new ValidationError('path contains a NUL byte', 'path');
    const segments = requested.split('/').filter((s) => s !== '' && s !== '.');
    if (segments.includes('..')) throw new ForbiddenError(`path ${JSON.stringify(requested)} may not contain '..'`);
    const rel = this.relativeSegments(requested, segments);
    if (!rel || rel.length < SANDBOX_DEPTH || rel[0] !== 'slaves' || rel[2] !== 'frameworks' || rel[4] !== 'executors' || rel[6] !== 'runs')
      throw new NotFoundError(`no such sandbox path: ${requested}`);
    const runsDir = path.join(this.deps.workDir, ...rel.slice(0, SANDBOX_DEPTH - 1));
    const sandbox = path.join(runsDir, rel[SANDBOX_DEPTH - 1]!);
    const runsReal = await realpathOr404(runsDir, requested);
    if (runsReal !== runsDir) throw new ForbiddenError(`path ${JSON.stringify(requested)} leaves the sandbox`);
    const sandboxReal = await realpathOr404(sandbox, requested);
    if (path.dirname(sandboxReal) !== runsDir) throw new ForbiddenError(`path ${JSON.stringify(requested)} leaves the sandbox`);
    const real = await realpathOr404(path.join(sandbox, ...rel.slice(SANDBOX_DEPTH)), requested);
    if (real !== sandboxReal && !real.startsWith(sandboxReal + path.sep))
      throw new ForbiddenError(`path ${JSON.stringify(requested)} resolves outside its sandbox`);
    return { real, stat: await fs.promises.stat(real) };
  }

  private relativeSegments(requested: string, segments: string[]): string[] | undefined {
    const workSegs = this.deps.workDir.split('/').filter(Boolean);
    if (requested.startsWith('/') && workSegs.every((s, i) => segments[i] === s)) return segments.slice(workSegs.length);
    if (segments[0] === 'slaves') return segments;
    if (segments[0] === 'frameworks') {
      const agentId = this.deps.agentId();
      return agentId ? ['slaves', agentId, ...segments] : undefined;
    }
    return undefined;
  }

  async browse(ctx: RequestContext): Promise<Reply> {
    const requested = ctx.query.get('path');
    const { real, stat } = await this.resolve(requested);
    if (!stat.isDirectory()) throw new ValidationError(`${requested} is not a directory`, 'path');
    const names = readIdNames();
    const base = requested!.replace(/\/+$/, '');
    const entries = await fs.promises.readdir(real);
    const out = [];
    for (const name of entries.sort()) {
      let st: fs.Stats;
      try {
        st = await fs.promises.lstat(path.join(real, name));
      } catch {
        continue;
      }
      out.push({
        path: `${base}/${name}`,
        nlink: st.nlink,
        size: st.size,
        mtime: Math.floor(st.mtimeMs / 1000),
        mode: modeString(st),
        uid: names.users.get(st.uid) ?? String(st.uid),
        gid: names.groups.get(st.gid) ?? String(st.gid),
      });
    }
    return { body: out };
  }

  async read(ctx: RequestContext): Promise<Reply> {
    const { real, stat } = await this.resolve(ctx.query.get('path'));
    if (stat.isDirectory()) throw new ValidationError('cannot read a directory', 'path');
    const offset = intParam(ctx.query.get('offset'), 'offset', -1);
    const length = intParam(ctx.query.get('length'), 'length', -1);
    if (offset < -1) throw new ValidationError('negative offset', 'offset');
    if (length < -1) throw new ValidationError('negative length', 'length');
    const size = stat.size;
    if (offset === -1) return { body: { data: '', offset: size } };
    if (offset >= size) return { body: { data: '', offset } };
    const want = Math.min(length === -1 ? size - offset : length, MAX_READ_LENGTH, size - offset);
    const buf = Buffer.alloc(want);
    const fh = await fs.promises.open(real, 'r');
    let n = 0;
    try {
      n = (await fh.read(buf, 0, want, offset)).bytesRead;
    } finally {
      await fh.close();
    }
    return { body: { data: buf.subarray(0, n).toString('utf8'), offset } };
  }

  async download(ctx: RequestContext): Promise<Reply | undefined> {
    const { real, stat } = await this.resolve(ctx.query.get('path'));
    if (stat.isDirectory()) throw new ValidationError('cannot download a directory', 'path');
    const stream = fs.createReadStream(real);
    await new Promise<void>((resolve, reject) => {
      stream.once('open', () => resolve());
      stream.once('error', reject);
    }).catch((e: unknown) => {
      throw new CorralError('NOT_FOUND', `cannot open ${ctx.query.get('path')}: ${(e as Error).message}`);
    });
    ctx.res.writeHead(200, {
      'content-type': 'application/octet-stream',
      'content-length': String(stat.size),
      'content-disposition': `attachment; filename="${path.basename(real).replace(/["\\\r\n]/g, '_')}"`,
    });
    stream.pipe(ctx.res);
    return undefined;
  }
}

async function realpathOr404(p: string, requested: string): Promise<string> {
  try {
    return await fs.promises.realpath(p);
  } catch {
    throw new NotFoundError(`no such file or directory: ${requested}`);
  }
}

function intParam(v: string | null, name: string, dflt: number): number {
  if (v === null || v === '') return dflt;
  if (!/^-?\d+$/.test(v)) throw new ValidationError(`must be an integer, got ${JSON.stringify(v)}`, name);
  return Number(v);
}

/** ls-style mode string, e.g. "-rw-r--r--" or "drwxr-xr-x". */
export function modeString(st: fs.Stats): string {
  const type = st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : st.isFIFO() ? 'p' : st.isSocket() ? 's' : st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : '-';
  const bits = 'rwxrwxrwx';
  let out = type;
  for (let i = 0; i < 9; i++) out += st.mode & (1 << (8 - i)) ? bits[i] : '-';
  return out;
}
