// Redaction for status and logs: URLs keep scheme, host and path; credentials and query go.
export function redactUrl(raw: string): string {
  try {
    const u = new URL(raw);
    if (u.protocol === 'file:') return 'file://[redacted]';
    const cred = u.username || u.password ? '[redacted]@' : '';
    const query = u.search ? '?[redacted]' : '';
    const hash = u.hash ? '#[redacted]' : '';
    return `${u.protocol}//${cred}${u.host}${u.pathname}${query}${hash}`;
  } catch {
    return '[redacted]';
  }
}

/** Replaces any URL inside free text (error messages quote URLs) with its redacted form. */
export function redactText(text: string): string {
  return text.replace(/\b(?:https?|file):\/\/[^\s"'<>)]+/g, (m) => redactUrl(m));
}
