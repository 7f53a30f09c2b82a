#!/usr/bin/env python3
# pagecast's damage-driven capture: grabs the X display only when something was drawn on it.
#
#   damage-grab.py DISPLAY WIDTH HEIGHT FPS FLOOR_SECONDS REGRAB_SECONDS [--check]
#
# Writes raw bgr0 frames of WIDTH x HEIGHT to stdout, which is FFmpeg's input (FFmpeg stamps each
# frame with the wall clock as it reads it). A frame is written
#   - on the FPS grid, at the first slot after the X server reported damage (the DAMAGE extension),
#     so a moving page gets every frame up to FPS and a still one none;
#   - only when FFmpeg has taken the last one: a frame due while the pipe is still full is dropped
#     and counted (an encoder that cannot keep up then shows as drops, never as a growing delay);
#   - on the FLOOR_SECONDS grid when nothing else was written since the last floor slot: the last
#     frame again (grabbed anew every REGRAB_SECONDS, in case a change went unreported), so every
#     segment boundary (a multiple of the floor) has a frame to be its keyframe.
# Both grids start when FFmpeg has read the first frame, so its timestamps fall on them.
# Grabs go through MIT-SHM (no copy over the X socket). Once a second a line on stderr counts the
# grabs, the frames written and those dropped: "grabs=N frames=M dropped=D". Stdout closing (FFmpeg
# gone) ends it quietly.
# --check: set everything up, grab once, print "ok" and exit 0 (exit 2 with the reason otherwise).
# Only the standard library: ctypes on libX11, libXext and libXdamage (Chromium's own dependencies).
import ctypes
import fcntl
import math
import os
import select
import sys
import time

ZPIXMAP = 2
X_DAMAGE_REPORT_NON_EMPTY = 3
X_DAMAGE_NOTIFY = 0
IPC_PRIVATE = 0
IPC_CREAT = 0o1000
IPC_RMID = 0
F_SETPIPE_SZ = 1031


class XShmSegmentInfo(ctypes.Structure):
    _fields_ = [('shmseg', ctypes.c_ulong), ('shmid', ctypes.c_int), ('shmaddr', ctypes.c_void_p), ('readOnly', ctypes.c_int)]


class XImage(ctypes.Structure):
    # The leading fields only: Xlib allocates the structure.
    _fields_ = [
        ('width', ctypes.c_int), ('height', ctypes.c_int), ('xoffset', ctypes.c_int), ('format', ctypes.c_int),
        ('data', ctypes.c_void_p),
        ('byte_order', ctypes.c_int), ('bitmap_unit', ctypes.c_int), ('bitmap_bit_order', ctypes.c_int),
        ('bitmap_pad', ctypes.c_int), ('depth', ctypes.c_int), ('bytes_per_line', ctypes.c_int), ('bits_per_pixel', ctypes.c_int),
    ]


def fail(message):
    sys.stderr.write(f'damage-grab: {message}\n')
    sys.stderr.flush()
    sys.exit(2)


def load():
    try:
        x11 = ctypes.CDLL('libX11.so.6')
        xext = ctypes.CDLL('libXext.so.6')
        xd = ctypes.CDLL('libXdamage.so.1')
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError as err:
        fail(f'cannot load the X libraries: {err}')
    vp, ul = ctypes.c_void_p, ctypes.c_ulong
    x11.XOpenDisplay.restype, x11.XOpenDisplay.argtypes = vp, [ctypes.c_char_p]
    x11.XDefaultScreen.argtypes = [vp]
    x11.XRootWindow.restype, x11.XRootWindow.argtypes = ul, [vp, ctypes.c_int]
    x11.XDefaultVisual.restype, x11.XDefaultVisual.argtypes = vp, [vp, ctypes.c_int]
    x11.XDefaultDepth.argtypes = [vp, ctypes.c_int]
    x11.XDisplayWidth.argtypes = [vp, ctypes.c_int]
    x11.XDisplayHeight.argtypes = [vp, ctypes.c_int]
    x11.XConnectionNumber.argtypes = [vp]
    x11.XPending.argtypes = [vp]
    x11.XNextEvent.argtypes = [vp, vp]
    x11.XSync.argtypes = [vp, ctypes.c_int]
    xd.XDamageQueryExtension.argtypes = [vp, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int)]
    xd.XDamageCreate.restype, xd.XDamageCreate.argtypes = ul, [vp, ul, ctypes.c_int]
    xd.XDamageSubtract.argtypes = [vp, ul, ul, ul]
    xext.XShmQueryExtension.argtypes = [vp]
    xext.XShmCreateImage.restype = ctypes.POINTER(XImage)
    xext.XShmCreateImage.argtypes = [vp, vp, ctypes.c_uint, ctypes.c_int, vp, ctypes.POINTER(XShmSegmentInfo), ctypes.c_uint, ctypes.c_uint]
    xext.XShmAttach.argtypes = [vp, ctypes.POINTER(XShmSegmentInfo)]
    xext.XShmGetImage.argtypes = [vp, ul, ctypes.POINTER(XImage), ctypes.c_int, ctypes.c_int, ul]
    libc.shmget.argtypes = [ctypes.c_int, ctypes.c_size_t, ctypes.c_int]
    libc.shmat.restype, libc.shmat.argtypes = vp, [ctypes.c_int, vp, ctypes.c_int]
    libc.shmctl.argtypes = [ctypes.c_int, ctypes.c_int, vp]
    return x11, xext, xd, libc


def main():
    check = sys.argv[7:] == ['--check']
    if len(sys.argv) != 7 and not check:
        fail('usage: damage-grab.py DISPLAY WIDTH HEIGHT FPS FLOOR_SECONDS REGRAB_SECONDS [--check]')
    display = sys.argv[1]
    try:
        width, height = int(sys.argv[2]), int(sys.argv[3])
        fps, floor_s, regrab_s = float(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
    except ValueError:
        fail(f'bad arguments: {sys.argv[2:]}')
    if width <= 0 or height <= 0 or fps <= 0 or floor_s <= 0 or regrab_s <= 0:
        fail(f'bad arguments: {sys.argv[2:]}')
    x11, xext, xd, libc = load()

    dpy = x11.XOpenDisplay(display.encode())
    if not dpy:
        fail(f'cannot open display {display}')
    screen = x11.XDefaultScreen(dpy)
    root = x11.XRootWindow(dpy, screen)
    if x11.XDisplayWidth(dpy, screen) < width or x11.XDisplayHeight(dpy, screen) < height:
        fail(f'display {display} is smaller than {width}x{height}')
    event_base, error_base = ctypes.c_int(), ctypes.c_int()
    if not xd.XDamageQueryExtension(dpy, ctypes.byref(event_base), ctypes.byref(error_base)):
        fail(f'display {display} has no DAMAGE extension')
    if not xext.XShmQueryExtension(dpy):
        fail(f'display {display} has no MIT-SHM extension')

    shminfo = XShmSegmentInfo()
    image = xext.XShmCreateImage(dpy, x11.XDefaultVisual(dpy, screen), x11.XDefaultDepth(dpy, screen), ZPIXMAP, None, ctypes.byref(shminfo), width, height)
    if not image or image.contents.bits_per_pixel != 32:
        fail('cannot make a 32-bit shared-memory image of the display')
    size = image.contents.bytes_per_line * height
    if image.contents.bytes_per_line != width * 4:
        fail(f'unexpected row stride {image.contents.bytes_per_line} for width {width}')
    shminfo.shmid = libc.shmget(IPC_PRIVATE, size, IPC_CREAT | 0o600)
    if shminfo.shmid < 0:
        fail(f'shmget failed: {os.strerror(ctypes.get_errno())}')
    addr = libc.shmat(shminfo.shmid, None, 0)
    if addr in (None, ctypes.c_void_p(-1).value):
        libc.shmctl(shminfo.shmid, IPC_RMID, None)
        fail(f'shmat failed: {os.strerror(ctypes.get_errno())}')
    shminfo.shmaddr = addr
    shminfo.readOnly = 0
    image.contents.data = addr
    ok = xext.XShmAttach(dpy, ctypes.byref(shminfo))
    x11.XSync(dpy, 0)
    # Marked for removal now: the segment goes when both sides detach, whatever ends this process.
    libc.shmctl(shminfo.shmid, IPC_RMID, None)
    if not ok:
        fail('XShmAttach failed')
    frame = memoryview((ctypes.c_char * size).from_address(addr)).cast('B')

    damage = xd.XDamageCreate(dpy, root, X_DAMAGE_REPORT_NON_EMPTY)
    xfd = x11.XConnectionNumber(dpy)
    event = ctypes.create_string_buffer(192)  # an XEvent is 24 longs
    damage_notify = event_base.value + X_DAMAGE_NOTIFY
    try:
        fcntl.fcntl(1, F_SETPIPE_SZ, 1 << 20)  # fewer wake-ups per frame; a file or a full limit is fine too
    except OSError:
        pass

    grabs = frames = dropped = 0

    def taken():
        # FFmpeg has read (nearly all of) what was written: the pipe takes a new frame now.
        return bool(select.select([], [1], [], 0)[1])

    def grab():
        nonlocal grabs
        xd.XDamageSubtract(dpy, damage, 0, 0)  # before the grab: what is drawn during it shows as damage again
        xext.XShmGetImage(dpy, root, image, 0, 0, 0xFFFFFFFF)
        grabs += 1
        return time.monotonic()

    def write():
        nonlocal frames
        view = frame
        while len(view) > 0:
            view = view[os.write(1, view):]
        frames += 1

    def damaged():
        seen = False
        while x11.XPending(dpy) > 0:
            x11.XNextEvent(dpy, event)
            if ctypes.c_int.from_buffer(event).value & 0x7F == damage_notify:
                seen = True
        return seen

    frame_dt = 1.0 / fps
    last_grab = grab()
    if check:
        x11.XSync(dpy, 0)
        print('ok')
        return
    write()
    # The write returned: FFmpeg has (nearly all of) the first frame, and stamped it about now. The
    # grids start a few milliseconds later, so that a frame due on a boundary is stamped after it,
    # never before (its keyframe is taken only at or past the boundary).
    t0 = time.monotonic() + 0.004
    slot = 0  # the frame slot (of frame_dt) last written
    next_floor = 1  # the floor slot (of floor_s) due next
    dirty = False
    next_report = t0 + 1.0
    while True:
        now = time.monotonic()
        if now >= next_report:
            sys.stderr.write(f'grabs={grabs} frames={frames} dropped={dropped}\n')
            sys.stderr.flush()
            next_report = now + 1.0
        dirty = damaged() or dirty
        at = t0 + next_floor * floor_s  # the floor slot: a frame there unless one was written since the last
        if dirty:
            at = min(at, t0 + max(slot + 1, math.ceil((now - t0) / frame_dt - 1e-6)) * frame_dt)
        elif now < at - 1e-4:
            select.select([xfd], [], [], max(0.0, min(at, next_report) - now))
            continue
        wait = at - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        if not taken():
            dropped += 1  # a changed screen stays due: the next slot tries again
        else:
            if dirty or time.monotonic() - last_grab >= regrab_s:
                dirty = False
                last_grab = grab()
            write()
        slot = max(slot, math.floor((at - t0) / frame_dt + 1e-6))
        # Late (a busy machine): the floor goes on from now, not in a burst of the slots missed.
        next_floor = math.floor((max(at, time.monotonic() - floor_s / 2) - t0) / floor_s + 1e-6) + 1


if __name__ == '__main__':
    try:
        main()
    except (BrokenPipeError, ConnectionResetError, KeyboardInterrupt):
        # FFmpeg closed its input (it stopped): nothing more to do. Quiet about the closed stdout.
        try:
            os.close(1)
        except OSError:
            pass
        sys.exit(0)
