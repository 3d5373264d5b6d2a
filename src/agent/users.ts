// Local user lookup for --switch_user (no native getpwnam in Node): parses /etc/passwd and /etc/group.
import fs from 'node:fs';

export interface UserInfo {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

export function parsePasswd(text: string): UserInfo[] {
  const out: UserInfo[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 7) continue;
    const uid = Number(f[2]);
    const gid = Number(f[3]);
    if (!Number.isInteger(uid) || !Number.isInteger(gid)) continue;
    out.push({ name: f[0]!, uid, gid, home: f[5]!, shell: f[6]! });
  }
  return out;
}

export function lookupUser(name: string, passwdPath = '/etc/passwd'): UserInfo | undefined {
  try {
    return parsePasswd(fs.readFileSync(passwdPath, 'utf8')).find((u) => u.name === name);
  } catch {
    return undefined;
  }
}

/** uid → user name and gid → group name maps (for /files/browse), cached for a few seconds by the caller. */
export function readIdNames(): { users: Map<number, string>; groups: Map<number, string> } {
  const users = new Map<number, string>();
  const groups = new Map<number, string>();
  try {
    for (const u of parsePasswd(fs.readFileSync('/etc/passwd', 'utf8'))) if (!users.has(u.uid)) users.set(u.uid, u.name);
  } catch {
    // no passwd: numeric ids
  }
  try {
    for (const line of fs.readFileSync('/etc/group', 'utf8').split('\n')) {
      const f = line.split(':');
      const gid = Number(f[2]);
      if (f.length >= 3 && Number.isInteger(gid) && !groups.has(gid)) groups.set(gid, f[0]!);
    }
  } catch {
    // no group file
  }
  return { users, groups };
}
