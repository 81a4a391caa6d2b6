// Monitoring: /metrics and /healthz on a real bot after a real nightly run, and the dead man's switch:
// no OK run for nightly.alertAfterHours raises an alert in the report channels, again a day later,
// and /healthz says not OK until a run is OK again.
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type MemoryHarness, startMemoryBot } from '../support/bot-harness.ts';
import { freshVolume, writeVolumeFile } from '../support/cell-tools.ts';

const cell = inject('cell');
let now = new Date('2026-07-06T03:00:00Z');
let h: MemoryHarness;
let base = '';

beforeAll(async () => {
  await freshVolume(cell, 'hl.a');
  writeVolumeFile(cell, 'hl.a', 'a.txt', 'watched\n');
  h = await startMemoryBot({
    cell,
    clock: () => now,
    env: { AFSBOT_NIGHTLY_PREFIXES: 'hl.', AFSBOT_METRICS: '1', AFSBOT_METRICS_PORT: '0' },
  });
  base = `http://127.0.0.1:${(h.bot.health!.address() as AddressInfo).port}`;
}, 60_000);

afterAll(async () => {
  await h?.stop();
});

const get = async (path: string) => {
  const r = await fetch(`${base}${path}`);
  return { status: r.status, text: await r.text() };
};

describe('metrics and health', () => {
  it('before any run: healthy while watched for less than the alert threshold', async () => {
    const r = await get('/healthz');
    expect(r).toMatchObject({ status: 200 });
    expect(r.text).toMatch(/^ok: no nightly run yet, watched for 0\.0 h \(alert after 26 h\)/);
  });

  it('after a run: the last OK time, the phases, and each volume age', async () => {
    expect((await h.chat.job('!nightly run', 120_000)).result).toMatch(/: OK\./);
    const m = await get('/metrics');
    expect(m.status).toBe(200);
    expect(m.text).toMatch(/^afsbot_nightly_last_run_ok 1$/m);
    expect(m.text).toMatch(/^afsbot_nightly_last_ok_timestamp_seconds \d{10}/m);
    expect(m.text).toMatch(/^afsbot_nightly_phase_seconds\{phase="dumping"\} [\d.]+$/m);
    expect(m.text).toMatch(/^afsbot_volume_last_good_dump_age_seconds\{volume="hl\.a"\} \d+/m);
    expect(m.text).toMatch(/^afsbot_jobs\{state="ok"\} 1$/m);
    expect(m.text).toMatch(/^afsbot_healthy 1$/m);
    expect(m.text).toMatch(/^afsbot_chat_connected\{backend="console"\} 1$/m);
    expect(m.text).toMatch(/^afsbot_archive_last_check_timestamp_seconds 0$/m); // none yet
    expect((await get('/healthz')).status).toBe(200);
    // after a check of the archive: when, and that it was OK
    expect((await h.chat.job('!nightly maintenance check', 120_000)).result).toMatch(/check: ok/);
    const after = (await get('/metrics')).text;
    expect(after).toMatch(/^afsbot_archive_last_check_ok 1$/m);
    const at = Number(/^afsbot_archive_last_check_timestamp_seconds (\d+)/m.exec(after)?.[1]);
    expect(Math.abs(at - Date.now() / 1000)).toBeLessThan(120);
    expect((await get('/nope')).status).toBe(404);
  });

  it('no OK run for 26 hours: an alert, repeated a day later, and /healthz 503 until a run is OK', async () => {
    now = new Date(Date.now() + 27 * 3600_000);
    const since = h.chat.said.length;
    expect(await h.bot.services.schedule.fire('dead-man')).toMatch(
      /^ALERT: no nightly run has been OK since 2026\./,
    );
    await h.chat.waitFor(/^ALERT: no nightly run has been OK since/, 5000, since);
    expect(await h.bot.services.schedule.fire('dead-man')).toBeUndefined(); // once a day, not every 10 minutes
    const health = await get('/healthz');
    expect(health.status).toBe(503);
    expect(health.text).toMatch(/^not ok: no OK nightly run for 2\d\.\d h \(alert after 26 h\)/);
    expect((await get('/metrics')).text).toMatch(/^afsbot_healthy 0$/m);
    now = new Date(now.getTime() + 25 * 3600_000);
    expect(await h.bot.services.schedule.fire('dead-man')).toMatch(/^ALERT: /);
  });
});
