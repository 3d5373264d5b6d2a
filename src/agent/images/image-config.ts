// What an unpacked image tells the containerizer: the OCI image config (entrypoint, cmd, env, working
// dir, user, as the image's author set them) and the user umoci resolved against the image's /etc/passwd.
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

const StringList = z.array(z.string()).nullish().transform((v) => v ?? undefined);

/** The `config` part of an OCI image config (the fields a container start needs). */
export const ImageConfig = z.object({
  Entrypoint: StringList,
  Cmd: StringList,
  Env: StringList,
  WorkingDir: z.string().nullish().transform((v) => v || undefined),
  User: z.string().nullish().transform((v) => v || undefined),
  StopSignal: z.string().nullish().transform((v) => v || undefined),
});
export type ImageConfig = z.infer<typeof ImageConfig>;

const Manifest = z.looseObject({
  config: z.object({ digest: z.string().regex(/^sha256:[a-f0-9]{64}$/) }),
  layers: z.array(z.object({ size: z.number().nonnegative() })).default([]),
});
const ImageConfigBlob = z.looseObject({ config: ImageConfig.nullish() });
const RuntimeUser = z.object({ uid: z.number().int().nonnegative(), gid: z.number().int().nonnegative(), additionalGids: z.array(z.number().int()).nullish() });
const UmociRuntimeConfig = z.looseObject({ process: z.looseObject({ user: RuntimeUser }) });

export interface RuntimeUser {
  uid: number;
  gid: number;
  additionalGids?: number[];
}

/** image.json in an unpacked image's directory: written last, so its presence means "complete". */
export const ImageRecord = z.object({
  name: z.string(),
  digest: z.string(),
  config: ImageConfig,
  user: RuntimeUser.transform((u) => ({ uid: u.uid, gid: u.gid, ...(u.additionalGids?.length ? { additionalGids: u.additionalGids } : {}) })),
  size_bytes: z.number(),
  layers: z.number(),
});
export type ImageRecord = z.infer<typeof ImageRecord>;

const blobPath = (layout: string, digest: string): string => path.join(layout, 'blobs', 'sha256', digest.replace(/^sha256:/, ''));

/** Reads the manifest `digest` of an OCI layout and the image config it points to. */
export function readImageFromLayout(layout: string, digest: string): { config: ImageConfig; sizeBytes: number; layers: number } {
  const manifest = Manifest.parse(JSON.parse(fs.readFileSync(blobPath(layout, digest), 'utf8')));
  const blob = ImageConfigBlob.parse(JSON.parse(fs.readFileSync(blobPath(layout, manifest.config.digest), 'utf8')));
  return {
    config: blob.config ?? ImageConfig.parse({}),
    sizeBytes: manifest.layers.reduce((s, l) => s + l.size, 0),
    layers: manifest.layers.length,
  };
}

/** The user umoci resolved for the image's `User` (uid/gid through the image's own passwd/group files). */
export function readUmociUser(bundleDir: string): RuntimeUser {
  const cfg = UmociRuntimeConfig.parse(JSON.parse(fs.readFileSync(path.join(bundleDir, 'config.json'), 'utf8')));
  const u = cfg.process.user;
  return { uid: u.uid, gid: u.gid, ...(u.additionalGids?.length ? { additionalGids: u.additionalGids } : {}) };
}
