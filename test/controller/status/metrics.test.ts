import { describe, expect, it } from 'vitest';
import { StatusMetrics } from '../../../controller/status/metrics.js';
import { specStatus } from '../http/fake-control.js';

const now = new Date('2025-03-01T12:00:00.000Z');

describe('StatusMetrics', () => {
  it('renders gauges from the status list and drops series of removed specs', async () => {
    const m = new StatusMetrics();
    const kitchen = specStatus('kitchen', {
      restarts: 3,
      stream: {
        id: 's1',
        sharedWith: [],
        encoder: 'libx264',
        figures: { fps: 29.5, speed: 1.01, droppedFrames: 4, duplicatedFrames: 0, bitrateKbps: 2900, frame: 100, at: now.toISOString(), capture: { path: 'x11grab', capturedFps: 30, encodedFps: 4.5 } },
        fetches: [],
      },
      deviceLastFetch: { playlist: '2025-03-01T11:59:58.000Z', segment: '2025-03-01T11:59:55.000Z' },
    });
    const office = specStatus('office', { phase: 'Recovering', suspended: true });
    const text = await m.render([kitchen, office], now);
    expect(text).toContain('pagecast_specs{phase="Playing"} 1');
    expect(text).toContain('pagecast_specs{phase="Recovering"} 1');
    expect(text).toContain('pagecast_spec_phase{spec="office",phase="Recovering"} 1');
    expect(text).toContain('pagecast_spec_condition{spec="kitchen",type="Valid",status="True"} 1');
    expect(text).toContain('pagecast_spec_restarts{spec="kitchen"} 3');
    expect(text).toContain('pagecast_spec_suspended{spec="office"} 1');
    expect(text).toContain('pagecast_encoder_fps{spec="kitchen",stream="s1"} 29.5');
    expect(text).toContain('pagecast_encoder_dropped_frames{spec="kitchen",stream="s1"} 4');
    expect(text).toContain('pagecast_device_last_fetch_age_seconds{spec="kitchen"} 2');
    expect(text).toContain('pagecast_capture_fps{spec="kitchen",stream="s1",path="x11grab",frames="captured"} 30');
    expect(text).toContain('pagecast_capture_fps{spec="kitchen",stream="s1",path="x11grab",frames="encoded"} 4.5');

    const after = await m.render([kitchen], now);
    expect(after).not.toContain('spec="office"');
    const stopped = await m.render([{ ...kitchen, stream: undefined }], now);
    expect(stopped).not.toContain('pagecast_capture_fps{');
    expect(after).not.toContain('phase="Recovering"');
  });

  it('counts reconcile passes and reads the running streams at each scrape', async () => {
    let streams = 2;
    const m = new StatusMetrics({ runningStreams: () => streams });
    m.countReconcile();
    m.countReconcile();
    const text = await m.render([], now);
    expect(text).toContain('# TYPE pagecast_reconciles_total counter');
    expect(text).toContain('pagecast_reconciles_total 2');
    expect(text).toContain('pagecast_streams 2');
    streams = 0;
    m.countReconcile();
    const later = await m.render([], now);
    expect(later).toContain('pagecast_streams 0');
    expect(later).toContain('pagecast_reconciles_total 3');
  });

  it('process metrics only when asked; no stream gauge without a source', async () => {
    const bare = await new StatusMetrics().render([], now);
    expect(bare).not.toContain('pagecast_process_resident_memory_bytes');
    expect(bare).not.toContain('pagecast_streams');
    expect(bare).toContain('pagecast_reconciles_total 0');
    const full = await new StatusMetrics({ processMetrics: true }).render([], now);
    expect(full).toMatch(/^pagecast_process_resident_memory_bytes \d+/m);
  });

  it('instances do not share a registry', async () => {
    const a = new StatusMetrics();
    const b = new StatusMetrics();
    await a.render([specStatus('only-a')], now);
    expect(await b.render([], now)).not.toContain('only-a');
    expect(a.contentType).toMatch(/^text\/plain/);
  });
});
