// Floria values (JSON) for AssemblyScript: build, read, parse and print them.

const NO_ITEMS: Array<Value> = [];
const NO_NAMES: Array<string> = [];

/** What a `Value` holds. */
export enum ValueKind {
  Null,
  Bool,
  Number,
  String,
  List,
  Map,
}

/**
 * A Floria value: null, a boolean, a number, a string, a list or a map (string keys, in
 * insertion order). Readers never trap: reading the wrong kind gives a neutral value
 * (false, 0, "", empty), so check `kind` where it matters.
 */
export class Value {
  kind: ValueKind = ValueKind.Null;
  private b: bool = false;
  private n: f64 = 0;
  private s: string = '';
  // Scalars share these empty arrays (never mutated: writers check `kind`), so only lists
  // and maps pay for allocating their own.
  private items: Array<Value> = NO_ITEMS;
  private names: Array<string> = NO_NAMES;

  static ofNull(): Value {
    return new Value();
  }

  static ofBool(b: bool): Value {
    const v = new Value();
    v.kind = ValueKind.Bool;
    v.b = b;
    return v;
  }

  static ofNumber(n: f64): Value {
    const v = new Value();
    v.kind = ValueKind.Number;
    v.n = n;
    return v;
  }

  static ofString(s: string): Value {
    const v = new Value();
    v.kind = ValueKind.String;
    v.s = s;
    return v;
  }

  static newList(): Value {
    const v = new Value();
    v.kind = ValueKind.List;
    v.items = [];
    return v;
  }

  static newMap(): Value {
    const v = new Value();
    v.kind = ValueKind.Map;
    v.items = [];
    v.names = [];
    return v;
  }

  /** Parses JSON; `null` if the text is not valid JSON. */
  static parse(text: string): Value | null {
    const parser = new Parser(text);
    const value = parser.value();
    parser.space();
    if (value === null || parser.failed || parser.pos !== text.length) return null;
    return value;
  }

  get isNull(): bool {
    return this.kind === ValueKind.Null;
  }

  asBool(): bool {
    return this.kind === ValueKind.Bool ? this.b : false;
  }

  asNumber(): f64 {
    return this.kind === ValueKind.Number ? this.n : 0;
  }

  asString(): string {
    return this.kind === ValueKind.String ? this.s : '';
  }

  /** Items of a list, values of a map, 0 otherwise. */
  get length(): i32 {
    return this.kind === ValueKind.List || this.kind === ValueKind.Map ? this.items.length : 0;
  }

  /** The list item at `index`, or null (the Floria null value) when out of range. */
  at(index: i32): Value {
    if (this.kind !== ValueKind.List || index < 0 || index >= this.items.length) return new Value();
    return this.items[index];
  }

  /** Appends to a list; returns this list. */
  push(item: Value): Value {
    if (this.kind === ValueKind.List) this.items.push(item);
    return this;
  }

  /** The map entry `key`, or null (the Floria null value) when absent. */
  get(key: string): Value {
    if (this.kind !== ValueKind.Map) return new Value();
    const i = this.names.indexOf(key);
    return i < 0 ? new Value() : this.items[i];
  }

  has(key: string): bool {
    return this.kind === ValueKind.Map && this.names.includes(key);
  }

  /** Sets a map entry; returns this map. */
  set(key: string, value: Value): Value {
    if (this.kind !== ValueKind.Map) return this;
    const i = this.names.indexOf(key);
    if (i < 0) {
      this.names.push(key);
      this.items.push(value);
    } else {
      this.items[i] = value;
    }
    return this;
  }

  /** The keys of a map, in order. */
  keys(): Array<string> {
    return this.kind === ValueKind.Map ? this.names.slice(0) : [];
  }

  /** Follows map keys: `v.path(["properties", "port", "value"])`. */
  path(keys: Array<string>): Value {
    let v: Value = this;
    for (let i = 0; i < keys.length; i++) v = v.get(keys[i]);
    return v;
  }

  toJSON(): string {
    switch (this.kind) {
      case ValueKind.Bool:
        return this.b ? 'true' : 'false';
      case ValueKind.Number:
        return numberText(this.n);
      case ValueKind.String:
        return quote(this.s);
      case ValueKind.List: {
        const parts = new Array<string>(this.items.length);
        for (let i = 0; i < this.items.length; i++) parts[i] = this.items[i].toJSON();
        return '[' + parts.join(',') + ']';
      }
      case ValueKind.Map: {
        const parts = new Array<string>(this.items.length);
        for (let i = 0; i < this.items.length; i++) {
          parts[i] = quote(this.names[i]) + ':' + this.items[i].toJSON();
        }
        return '{' + parts.join(',') + '}';
      }
      default:
        return 'null';
    }
  }
}

function numberText(n: f64): string {
  if (!Number.isFinite(n)) return 'null';
  if (n === Math.floor(n) && Math.abs(n) < 9007199254740992) return (<i64>n).toString();
  return n.toString();
}

function quote(s: string): string {
  let out = '"';
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22 || c === 0x5c || c < 0x20) {
      out += s.substring(start, i);
      if (c === 0x22) out += '\\"';
      else if (c === 0x5c) out += '\\\\';
      else if (c === 0x0a) out += '\\n';
      else if (c === 0x0d) out += '\\r';
      else if (c === 0x09) out += '\\t';
      else out += '\\u00' + (c < 0x10 ? '0' : '') + c.toString(16);
      start = i + 1;
    }
  }
  return out + s.substring(start) + '"';
}

class Parser {
  pos: i32 = 0;
  failed: bool = false;
  constructor(public text: string) {}

  space(): void {
    while (this.pos < this.text.length) {
      const c = this.text.charCodeAt(this.pos);
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
      this.pos++;
    }
  }

  literal(word: string): bool {
    const n = word.length;
    if (this.pos + n > this.text.length) return false;
    for (let i = 0; i < n; i++) {
      if (this.text.charCodeAt(this.pos + i) !== word.charCodeAt(i)) return false;
    }
    this.pos += n;
    return true;
  }

  value(): Value | null {
    this.space();
    if (this.pos >= this.text.length) return null;
    const c = this.text.charCodeAt(this.pos);
    if (c === 0x7b) return this.map();
    if (c === 0x5b) return this.list();
    if (c === 0x22) {
      const s = this.string();
      return s === null ? null : Value.ofString(s);
    }
    if (this.literal('true')) return Value.ofBool(true);
    if (this.literal('false')) return Value.ofBool(false);
    if (this.literal('null')) return Value.ofNull();
    return this.number();
  }

  number(): Value | null {
    const start = this.pos;
    while (this.pos < this.text.length) {
      const c = this.text.charCodeAt(this.pos);
      const numeric =
        (c >= 0x30 && c <= 0x39) ||
        c === 0x2d ||
        c === 0x2b ||
        c === 0x2e ||
        c === 0x65 ||
        c === 0x45;
      if (!numeric) break;
      this.pos++;
    }
    if (this.pos === start) return null;
    return Value.ofNumber(parseFloat(this.text.substring(start, this.pos)));
  }

  string(): string | null {
    this.pos++;
    // Fast path: no escapes before the closing quote, so one substring is the whole string.
    for (let i = this.pos; i < this.text.length; i++) {
      const c = this.text.charCodeAt(i);
      if (c === 0x5c) break;
      if (c === 0x22) {
        const whole = this.text.substring(this.pos, i);
        this.pos = i + 1;
        return whole;
      }
    }
    let out = '';
    let start = this.pos;
    while (this.pos < this.text.length) {
      const c = this.text.charCodeAt(this.pos);
      if (c === 0x22) {
        out += this.text.substring(start, this.pos);
        this.pos++;
        return out;
      }
      if (c === 0x5c) {
        out += this.text.substring(start, this.pos);
        const e = this.text.charCodeAt(this.pos + 1);
        this.pos += 2;
        if (e === 0x6e) out += '\n';
        else if (e === 0x74) out += '\t';
        else if (e === 0x72) out += '\r';
        else if (e === 0x62) out += '\b';
        else if (e === 0x66) out += '\f';
        else if (e === 0x75) {
          out += String.fromCharCode(<i32>parseInt(this.text.substr(this.pos, 4), 16));
          this.pos += 4;
        } else out += String.fromCharCode(e);
        start = this.pos;
      } else {
        this.pos++;
      }
    }
    this.failed = true;
    return null;
  }

  list(): Value | null {
    this.pos++;
    const list = Value.newList();
    this.space();
    if (this.text.charCodeAt(this.pos) === 0x5d) {
      this.pos++;
      return list;
    }
    while (this.pos < this.text.length) {
      const item = this.value();
      if (item === null) return null;
      list.push(item);
      this.space();
      const c = this.text.charCodeAt(this.pos++);
      if (c === 0x5d) return list;
      if (c !== 0x2c) return null;
    }
    return null;
  }

  map(): Value | null {
    this.pos++;
    const map = Value.newMap();
    this.space();
    if (this.text.charCodeAt(this.pos) === 0x7d) {
      this.pos++;
      return map;
    }
    while (this.pos < this.text.length) {
      this.space();
      if (this.text.charCodeAt(this.pos) !== 0x22) return null;
      const key = this.string();
      if (key === null) return null;
      this.space();
      if (this.text.charCodeAt(this.pos++) !== 0x3a) return null;
      const item = this.value();
      if (item === null) return null;
      map.set(key, item);
      this.space();
      const c = this.text.charCodeAt(this.pos++);
      if (c === 0x7d) return map;
      if (c !== 0x2c) return null;
    }
    return null;
  }
}
