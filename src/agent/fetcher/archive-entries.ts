// Archive listings (GNU tar's verbose C-quoted listing, Info-ZIP's zipinfo) parsed into entries, and the rules
// an archive must pass before anything is extracted into a sandbox: no absolute names, no `..`, no special files,
// links that stay inside, nothing stored under a symlink, and a bounded total size. Pure: the I/O is archive.ts.

export type EntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'other';

export interface ArchiveEntry {
  name: string;
  type: EntryType;
  /** Symlink target, or the archive member a hardlink refers to. */
  target?: string;
  size: number;
}

export class ListingError extends Error {}

/** Decodes a GNU tar --quoting-style=c string starting at `at` (the opening quote); returns it and the index after it. */
export function readCString(line: string, at: number): { value: string; end: number } {
  if (line[at] !== '"') throw new ListingError(`expected a quoted name at column ${at}`);
  const bytes: number[] = [];
  const simple: Record<string, number> = { n: 10, t: 9, r: 13, a: 7, b: 8, f: 12, v: 11, '"': 34, '\\': 92, '?': 63, "'": 39 };
  let i = at + 1;
  while (i < line.length) {
    const c = line[i]!;
    if (c === '"') return { value: Buffer.from(bytes).toString('utf8'), end: i + 1 };
    if (c !== '\\') {
      bytes.push(...Buffer.from(c, 'utf8'));
      i++;
      continue;
    }
    const n = line[i + 1];
    if (n === undefined) break;
    const oct = /^[0-7]{1,3}/.exec(line.slice(i + 1, i + 4));
    if (oct) {
      bytes.push(parseInt(oct[0], 8) & 0xff);
      i += 1 + oct[0].length;
    } else if (simple[n] !== undefined) {
      bytes.push(simple[n]!);
      i += 2;
    } else throw new ListingError(`unknown escape \\${n}`);
  }
  throw new ListingError('unterminated quoted name');
}

const TAR_TYPES: Record<string, EntryType> = { '-': 'file', C: 'file', d: 'dir', l: 'symlink', h: 'hardlink' };

/**
 * `tar -tv -P --quoting-style=c --numeric-owner --full-time` (LC_ALL=C): `-rw-r--r-- 0/0  3 2024-01-01 00:00:00 "name"`,
 * `lrwxrwxrwx … "name" -> "target"`, `hrw-r--r-- … "name" link to "target"`. Nothing before the name is quoted,
 * so its first `"` starts the name, whatever the date or device numbers look like.
 */
export function parseTarListing(text: string): ArchiveEntry[] {
  const out: ArchiveEntry[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const q = line.indexOf('"');
    if (q < 0) throw new ListingError(`unexpected tar listing line: ${JSON.stringify(line.slice(0, 200))}`);
    const fields = line.slice(0, q).trim().split(/\s+/);
    const type = TAR_TYPES[line[0]!] ?? 'other';
    const size = type === 'file' ? Number(fields[2]) : 0;
    const name = readCString(line, q);
    const rest = line.slice(name.end);
    let target: string | undefined;
    const link = /^ (->|link to) /.exec(rest);
    if (link) target = readCString(rest, link[0].length).value;
    else if (rest !== '') throw new ListingError(`unexpected text after a tar member name: ${JSON.stringify(rest.slice(0, 200))}`);
    if ((type === 'symlink' || type === 'hardlink') && target === undefined) throw new ListingError(`link without a target: ${name.value}`);
    out.push({ name: name.value, type, ...(target !== undefined ? { target } : {}), size: Number.isFinite(size) ? size : Number.POSITIVE_INFINITY });
  }
  return out;
}

// perms ver os size tx/bx method date time name — the name is the rest of the line after one space.
const ZIP_ENTRY = /^(\S+)\s+\S+\s+\S+\s+(\d+)\s+\S+\s+\S+\s+\S+\s+\S+ (.*)$/;

/**
 * `unzip -Z -s` (zipinfo's default listing). Strict about its frame (header, one line per announced entry, trailer)
 * so that a member name carrying a newline cannot smuggle a line past the checks. zipinfo does not show symlink
 * targets, so symlinks are reported with an unknown target (and rejected by checkEntries).
 */
export function parseZipListing(text: string): ArchiveEntry[] {
  const lines = text.split('\n');
  while (lines.length && lines[lines.length - 1] === '') lines.pop();
  if (lines.length === 1 && /^Empty zipfile\.$/.test(lines[0]!)) return [];
  const header = lines.findIndex((l) => l.startsWith('Zip file size:'));
  const count = header >= 0 ? /number of entries: (\d+)/.exec(lines[header]!) : null;
  if (!count) throw new ListingError('unexpected zipinfo output: no entry count');
  const n = Number(count[1]);
  const body = lines.slice(header + 1, header + 1 + n);
  const trailer = lines.slice(header + 1 + n);
  if (body.length !== n || trailer.length !== 1 || !/^\d+ files?, /.test(trailer[0]!)) throw new ListingError('unexpected zipinfo output: entries and count disagree');
  return body.map((line) => {
    const m = ZIP_ENTRY.exec(line);
    if (!m) throw new ListingError(`unexpected zipinfo line: ${JSON.stringify(line.slice(0, 200))}`);
    const perms = m[1]!;
    const name = m[3]!;
    let type: EntryType;
    if (perms[0] === 'l') type = 'symlink';
    else if (perms[0] === 'd' || name.endsWith('/')) type = 'dir';
    // `?`: a Unix mode without file-type bits (Python's zipfile writes those); unzip makes a regular file of it.
    else if (perms[0] === '-' || perms[0] === '?') type = 'file';
    else type = 'other';
    return { name, type, size: Number(m[2]) };
  });
}

/** Splits a member name into components; zip members made on Windows may use `\` (unzip treats it as `/`). */
function components(name: string, backslash: boolean): string[] {
  return name.split(backslash ? /[/\\]/ : '/').filter((c) => c !== '' && c !== '.');
}

export interface EntryRules {
  /** Largest total of the members' sizes (what extraction writes). */
  maxBytes: number;
  /** Treat `\` as a separator too (zip). */
  backslash?: boolean;
}

/**
 * The first reason this archive may not be extracted into a sandbox, or undefined. Together with the extraction-time
 * check that no existing path in the sandbox it writes to is a symlink (archive.ts), this keeps every write inside:
 * names are relative without `..`; nothing is stored under a member that is a symlink; a symlink's target is relative,
 * climbs (with leading `..` only) no higher than the sandbox from the link's real directory, and never climbs after
 * descending (so no symlink inside it can redirect the climb); hardlinks refer to members by safe names.
 */
export function unsafeEntry(entries: readonly ArchiveEntry[], rules: EntryRules): string | undefined {
  const bs = rules.backslash ?? false;
  const symlinks = new Set<string>();
  let total = 0;
  const badName = (name: string): string | undefined => {
    if (name.includes('\0')) return 'contains a NUL byte';
    if (name.startsWith('/') || (bs && name.startsWith('\\')) || /^[A-Za-z]:[/\\]/.test(name)) return 'is an absolute path';
    if (components(name, bs).includes('..')) return "contains '..'";
    return undefined;
  };
  for (const e of entries) {
    const bad = badName(e.name);
    if (bad) return `member '${e.name}' ${bad}`;
    if (e.type === 'symlink') symlinks.add(components(e.name, bs).join('/'));
  }
  for (const e of entries) {
    const parts = components(e.name, bs);
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join('/');
      if (symlinks.has(parent)) return `member '${e.name}' is stored under the symlink '${parent}'`;
    }
    switch (e.type) {
      case 'other':
        return `member '${e.name}' is a device, fifo or other special file`;
      case 'hardlink': {
        const bad = badName(e.target ?? '');
        if (!e.target || bad) return `hardlink '${e.name}' refers to '${e.target ?? ''}', which ${bad ?? 'is empty'}`;
        const tparts = components(e.target, bs);
        for (let i = 1; i <= tparts.length; i++)
          if (symlinks.has(tparts.slice(0, i).join('/'))) return `hardlink '${e.name}' refers to '${e.target}' through a symlink`;
        break;
      }
      case 'symlink': {
        const t = e.target;
        if (t === undefined) return `symlink '${e.name}' cannot be checked (its target is not listed); zip archives with symlinks are not extracted`;
        if (t === '' || t.includes('\0')) return `symlink '${e.name}' has an empty or invalid target`;
        if (t.startsWith('/')) return `symlink '${e.name}' points to the absolute path '${t}'`;
        const tparts = components(t, false);
        let ups = 0;
        while (tparts[ups] === '..') ups++;
        if (tparts.slice(ups).includes('..')) return `symlink '${e.name}' points to '${t}', which climbs after descending`;
        if (ups > parts.length - 1) return `symlink '${e.name}' points outside the sandbox ('${t}')`;
        break;
      }
      default:
        break;
    }
    total += e.size;
    if (total > rules.maxBytes) return `it would write more than ${rules.maxBytes} bytes`;
  }
  return undefined;
}

/**
 * Every path extraction touches (members, hardlink targets, and their parents), relative and deduplicated: none may
 * already exist in the sandbox as a symlink, or extraction would write through it.
 */
export function pathsWritten(entries: readonly ArchiveEntry[], backslash = false): string[] {
  const out = new Set<string>();
  const add = (name: string) => {
    const parts = components(name, backslash);
    for (let i = 1; i <= parts.length; i++) out.add(parts.slice(0, i).join('/'));
  };
  for (const e of entries) {
    add(e.name);
    if (e.type === 'hardlink' && e.target) add(e.target);
  }
  return [...out];
}
