// Marathon timestamps: ISO-8601 with milliseconds and Z (marathon-python parses %Y-%m-%dT%H:%M:%S.%fZ).
export const marathonTime = (ms: number): string => new Date(ms).toISOString();
export const parseTime = (s: string | undefined | null): number | undefined => {
  if (!s) return undefined;
  const t = Date.parse(s);
  return Number.isFinite(t) ? t : undefined;
};
