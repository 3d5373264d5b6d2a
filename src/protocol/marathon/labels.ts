// `GET /v2/apps?label=<selector>` (marathon.md §1.1, Marathon's LabelSelectorParsers):
//   selectors := selector { ',' selector }     (comma = AND; empty = match all)
//   selector  := term ('=='|'!=') term | term ('in'|'notin') '(' term {',' term} ')' | term
//   term      := ( '\' anychar | [-A-Za-z0-9_.] )+     (backslash escapes any other char)
// Whitespace between tokens is ignored. Every selector requires the label to exist.
import { MarathonError } from './errors.ts';

export type LabelSelectorOp = 'exists' | '==' | '!=' | 'in' | 'notin';

export interface LabelSelectorTerm {
  key: string;
  op: LabelSelectorOp;
  values: string[];
}

export interface LabelSelector {
  selectors: LabelSelectorTerm[];
  matches(labels: Readonly<Record<string, string>> | undefined): boolean;
}

class Cursor {
  pos = 0;
  constructor(readonly text: string) {}
  skipWs(): void {
    while (this.pos < this.text.length && /\s/.test(this.text[this.pos]!)) this.pos++;
  }
  atEnd(): boolean {
    this.skipWs();
    return this.pos >= this.text.length;
  }
  peek(s: string): boolean {
    this.skipWs();
    return this.text.startsWith(s, this.pos);
  }
  eat(s: string): boolean {
    if (!this.peek(s)) return false;
    this.pos += s.length;
    return true;
  }
  term(): string | undefined {
    this.skipWs();
    let out = '';
    const start = this.pos;
    while (this.pos < this.text.length) {
      const c = this.text[this.pos]!;
      if (c === '\\' && this.pos + 1 < this.text.length) {
        out += this.text[this.pos + 1];
        this.pos += 2;
      } else if (/[-A-Za-z0-9_.]/.test(c)) {
        out += c;
        this.pos++;
      } else break;
    }
    return this.pos > start ? out : undefined;
  }
  fail(expected: string): never {
    const found = this.pos < this.text.length ? `'${this.text[this.pos]}'` : 'end of input';
    throw new MarathonError('UNPROCESSABLE', {
      message: `Can not parse label selector ${this.text}. Reason: ${expected} expected but ${found} found`,
    });
  }
}

function parseSelector(c: Cursor): LabelSelectorTerm {
  const key = c.term();
  if (key === undefined) c.fail('label');
  if (c.eat('==') || c.peek('!=')) {
    const op: LabelSelectorOp = c.text.startsWith('!=', c.pos) ? '!=' : '==';
    if (op === '!=') c.eat('!=');
    const value = c.term();
    if (value === undefined) c.fail('value');
    return { key, op, values: [value] };
  }
  // `in`/`notin` are words: they must be followed by '(' (otherwise `key` alone is an existence selector
  // followed by garbage, which fails below).
  const save = c.pos;
  for (const op of ['notin', 'in'] as const) {
    if (c.eat(op)) {
      if (!c.eat('(')) {
        c.pos = save;
        break;
      }
      const values: string[] = [];
      if (!c.peek(')')) {
        do {
          const v = c.term();
          if (v === undefined) c.fail('value');
          values.push(v);
        } while (c.eat(','));
      }
      if (!c.eat(')')) c.fail("')'");
      return { key, op, values };
    }
  }
  return { key, op: 'exists', values: [] };
}

/** Parses a label selector; throws a 422 MarathonError `Can not parse label selector …` when malformed. */
export function parseLabelSelector(text: string): LabelSelector {
  const c = new Cursor(text);
  const selectors: LabelSelectorTerm[] = [];
  if (!c.atEnd()) {
    do selectors.push(parseSelector(c));
    while (c.eat(','));
    if (!c.atEnd()) c.fail("','");
  }
  return {
    selectors,
    matches: (labels) => selectors.every((s) => matchesTerm(s, labels ?? {})),
  };
}

function matchesTerm(s: LabelSelectorTerm, labels: Readonly<Record<string, string>>): boolean {
  if (!Object.prototype.hasOwnProperty.call(labels, s.key)) return false;
  const v = labels[s.key]!;
  switch (s.op) {
    case 'exists':
      return true;
    case '==':
      return v === s.values[0];
    case '!=':
      return v !== s.values[0];
    case 'in':
      return s.values.includes(v);
    case 'notin':
      return !s.values.includes(v);
  }
}

/** Convenience: a predicate over labels, or undefined when no selector was given. */
export function labelPredicate(text: string | undefined): ((labels: Readonly<Record<string, string>> | undefined) => boolean) | undefined {
  if (text === undefined) return undefined;
  return parseLabelSelector(text).matches;
}
