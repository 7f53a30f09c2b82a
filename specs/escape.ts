// Text from anywhere (a spec, the API, an mDNS name, another app's display name) is escaped
// before it reaches a terminal: a control character could clear the screen, move the cursor or
// forge a line, and bidirectional overrides could make text read other than it is.
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const CONTROL_OR_NEWLINE = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const hex = (c: string) => {
  const code = c.codePointAt(0)!;
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
};

/** Escapes control characters as \xNN (tab kept; newlines kept unless `oneLine`). */
export function escapeControl(text: string, opts: { oneLine?: boolean } = {}): string {
  return text.replace(opts.oneLine ? CONTROL_OR_NEWLINE : CONTROL, (c) => (c === '\n' ? '\\n' : hex(c)));
}
