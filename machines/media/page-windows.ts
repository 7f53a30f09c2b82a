// The windows of one Chromium, one per page, and their places on the display. Every window opens
// beyond the screen's edge, in a slot of its own, and loads and paints there; the front page's
// window is moved on screen and raised in one X request, and moved back to its slot when another
// takes its place. There is no window manager: where a window is, is where we put it.
import type { BrowserContext, Page } from 'playwright-core';
import { windowsOf, type X11Connection } from './x11.js';

export interface Size {
  width: number;
  height: number;
}

/**
 * Where page `i`'s window waits, off screen: a column right of the screen (`column` 0 or 1, so a
 * replacement browser's windows never lie on the current one's), one screen height per page.
 */
export function slotOf(size: Size, column: number, i: number): { x: number; y: number } {
  return { x: (2 + column) * size.width, y: i * size.height };
}

/** A Chromium top-level window big enough to be a page (Chromium maps a few tiny helper windows). */
async function pageWindows(x: X11Connection, pid: number, size: Size): Promise<number[]> {
  return (await windowsOf(x, pid)).filter((w) => w.width >= size.width / 2 && w.height >= size.height / 2).map((w) => w.id);
}

export interface PageWindow {
  tab: Page;
  xid: number;
}

export interface WindowPlace {
  x: X11Connection;
  pid: number;
  size: Size;
}

/**
 * One more window of a running Chromium, for one page: opened through CDP (asked of any tab of
 * it), fullscreen (no tab strip, no toolbar) in `slot`, off screen. `known` are the windows it
 * already has: the new one is the one not among them.
 */
export async function openWindow(o: WindowPlace & { context: BrowserContext; from: Page; slot: { x: number; y: number }; known: ReadonlySet<number> }): Promise<PageWindow> {
  const cdp = await o.context.newCDPSession(o.from);
  try {
    const opened = o.context.waitForEvent('page');
    const { targetId } = await cdp.send('Target.createTarget', { url: 'about:blank', newWindow: true, left: o.slot.x, top: o.slot.y, width: o.size.width, height: o.size.height });
    const tab = await opened;
    const { windowId } = await cdp.send('Browser.getWindowForTarget', { targetId });
    await cdp.send('Browser.setWindowBounds', { windowId, bounds: { windowState: 'fullscreen' } });
    const fresh = (await pageWindows(o.x, o.pid, o.size)).filter((id) => !o.known.has(id));
    if (fresh.length !== 1) throw new Error(`expected one new Chromium window, found ${fresh.length}`);
    return { tab, xid: fresh[0]! };
  } finally {
    await cdp.detach().catch(() => {});
  }
}

/**
 * The windows of pages 0…count-1: the first is Chromium's startup window, already in slot 0; the
 * others open beside it, each in its slot of `column`. Returns each page's tab and X window, in order.
 */
export async function openPageWindows(o: WindowPlace & { context: BrowserContext; first: Page; count: number; column: number }): Promise<PageWindow[]> {
  const firstIds = await pageWindows(o.x, o.pid, o.size);
  if (firstIds.length !== 1) throw new Error(`expected one Chromium window at start, found ${firstIds.length}`);
  const out: PageWindow[] = [{ tab: o.first, xid: firstIds[0]! }];
  for (let i = 1; i < o.count; i++) {
    out.push(await openWindow({ ...o, from: o.first, slot: slotOf(o.size, o.column, i), known: new Set(out.map((w) => w.xid)) }));
  }
  return out;
}

/**
 * Brings a window on screen over everything else. Its background is cleared first: the part of a
 * window that comes into view is otherwise filled with its background colour (white) until
 * Chromium repaints it, which a 30 fps capture catches; with none, the old pixels stay meanwhile.
 */
export async function reveal(x: X11Connection, xid: number, size: Size): Promise<void> {
  await x.clearBackground(xid);
  await x.configure(xid, { x: 0, y: 0, width: size.width, height: size.height, raise: true });
  await x.sync();
}

/** Puts a window back in its slot, off screen (it stays mapped, loaded and painting). */
export async function putAway(x: X11Connection, xid: number, slot: { x: number; y: number }): Promise<void> {
  await x.configure(xid, slot);
  await x.sync();
}
