// Finds keys written twice in one JSON object. JSON.parse keeps one of them silently (the last);
// other parsers keep the first or fail, so a log line must never carry a key twice.

/** Every key that appears twice in one object of `json` (a whole JSON text), as `path.key`. */
export function duplicateKeys(json: string): string[] {
  JSON.parse(json); // well-formed first: the scan below assumes it
  const found: string[] = [];
  const stack: Array<{ keys?: Set<string>; expectKey: boolean; path: string; lastKey?: string }> = [];
  for (let i = 0; i < json.length; i++) {
    const c = json[i];
    if (c === '"') {
      let j = i + 1;
      while (json[j] !== '"') j += json[j] === '\\' ? 2 : 1;
      const top = stack[stack.length - 1];
      if (top?.keys && top.expectKey) {
        const key = JSON.parse(json.slice(i, j + 1)) as string;
        if (top.keys.has(key)) found.push(`${top.path}${key}`);
        top.keys.add(key);
        top.lastKey = key;
        top.expectKey = false;
      }
      i = j;
    } else if (c === '{' || c === '[') {
      const top = stack[stack.length - 1];
      const path = top ? `${top.path}${top.keys ? top.lastKey : '[]'}.` : '';
      stack.push(c === '{' ? { keys: new Set(), expectKey: true, path } : { expectKey: false, path });
    } else if (c === '}' || c === ']') {
      stack.pop();
    } else if (c === ',') {
      const top = stack[stack.length - 1];
      if (top?.keys) top.expectKey = true;
    }
  }
  return found;
}
