// Metrics and health on localhost, for the monitoring a site already runs: Prometheus text at
// /metrics (prom-client), and /healthz, which answers 503 when the last OK nightly run is older than
// nightly.alertAfterHours (the same rule as the dead man's switch). Every figure is read from the
// database at scrape time, so a scrape sees what another afsbot process (backup-manager) did too.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Gauge, Registry } from 'prom-client';
import type { Services } from '../services.ts';
import type { NightlyStats } from './nightly/stats.ts';

const seconds = (iso: string | undefined | null) => (iso ? Date.parse(iso) / 1000 : 0);

/** Whether the backups are healthy: an OK nightly run within the alert threshold. */
export function health(s: Services): { ok: boolean; text: string } {
  const now = s.clock().getTime();
  const limitH = s.config.nightly.alertAfterHours;
  const ok = s.nightlyRuns.lastOk();
  if (ok) {
    const h = (now - Date.parse(ok.ended_at)) / 3600_000;
    return h <= limitH
      ? { ok: true, text: `ok: the last OK nightly run is of ${ok.date}, ${h.toFixed(1)} h ago` }
      : {
          ok: false,
          text: `not ok: no OK nightly run for ${h.toFixed(1)} h (alert after ${limitH} h); the last OK one is of ${ok.date}`,
        };
  }
  const since = s.nightlyRuns.lastAlert('watching-since') ?? s.startedAt;
  const h = (now - since.getTime()) / 3600_000;
  return h <= limitH
    ? { ok: true, text: `ok: no nightly run yet, watched for ${h.toFixed(1)} h (alert after ${limitH} h)` }
    : { ok: false, text: `not ok: no nightly run has been OK yet, watched for ${h.toFixed(1)} h` };
}

/** The metrics of one bot, each collected from the database when scraped. */
export function metricsRegistry(s: Services): Registry {
  const registry = new Registry();
  const gauge = (name: string, help: string, labelNames: string[], collect: (g: Gauge) => void) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        collect(this);
      },
    });
  const lastStats = (): NightlyStats | undefined => {
    const row = s.nightlyRuns.last();
    return row ? (JSON.parse(row.stats) as NightlyStats) : undefined;
  };
  gauge('afsbot_build_info', 'afsbot is running; its version', ['version'], (g) =>
    g.set({ version: s.version }, 1),
  );
  gauge(
    'afsbot_nightly_last_ok_timestamp_seconds',
    'when the last OK nightly run ended (0: never)',
    [],
    (g) => g.set(seconds(s.nightlyRuns.lastOk()?.ended_at)),
  );
  gauge('afsbot_nightly_last_run_timestamp_seconds', 'when the last nightly run ended', [], (g) =>
    g.set(seconds(s.nightlyRuns.last()?.ended_at)),
  );
  gauge('afsbot_nightly_last_run_ok', '1 when the last nightly run was OK, 0 when NOT SAFE', [], (g) =>
    g.set(s.nightlyRuns.last()?.ok ?? 0),
  );
  gauge('afsbot_nightly_phase_seconds', 'seconds each phase of the last nightly run took', ['phase'], (g) => {
    for (const [phase, v] of Object.entries(lastStats()?.phases ?? {})) g.set({ phase }, v);
  });
  gauge(
    'afsbot_nightly_bytes',
    'bytes of the last nightly run: raw dumps, stored (zstd), added to the archive',
    ['kind'],
    (g) => {
      const st = lastStats();
      if (!st) return;
      g.set(
        { kind: 'raw' },
        st.volumes.reduce((a, v) => a + (v.rawBytes ?? 0), 0),
      );
      g.set(
        { kind: 'stored' },
        st.volumes.reduce((a, v) => a + (v.storedBytes ?? 0), 0),
      );
      g.set({ kind: 'archived' }, st.archive.added);
    },
  );
  gauge('afsbot_nightly_failed_volumes', 'volumes that failed in the last nightly run', [], (g) =>
    g.set(lastStats()?.volumes.filter((v) => v.error).length ?? 0),
  );
  gauge(
    'afsbot_volume_last_good_dump_timestamp_seconds',
    'clone time of each volume newest good dump',
    ['volume'],
    (g) => {
      for (const v of s.catalog.newestPerVolume()) g.set({ volume: v.volume }, v.clone_time);
    },
  );
  gauge(
    'afsbot_volume_last_good_dump_age_seconds',
    'age of each volume newest good dump',
    ['volume'],
    (g) => {
      const now = s.clock().getTime() / 1000;
      for (const v of s.catalog.newestPerVolume())
        g.set({ volume: v.volume }, Math.max(0, now - v.clone_time));
    },
  );
  gauge(
    'afsbot_jobs',
    'jobs by state (running and queued now; the others over the last 1000)',
    ['state'],
    (g) => {
      for (const j of s.jobs.list(1000)) g.inc({ state: j.status });
    },
  );
  gauge('afsbot_chat_connected', '1 when a chat adapter is connected', ['backend'], (g) => {
    for (const a of s.adapters()) g.set({ backend: a.backend }, a.connected ? 1 : 0);
  });
  gauge('afsbot_archive_last_check_timestamp_seconds', 'when the last restic check ended', [], (g) =>
    g.set(seconds(s.maintenanceRuns.latest().find((m) => m.kind === 'check')?.ended_at)),
  );
  gauge('afsbot_archive_last_check_ok', '1 when the last restic check found no error', [], (g) =>
    g.set(s.maintenanceRuns.latest().find((m) => m.kind === 'check')?.ok ?? 0),
  );
  gauge('afsbot_healthy', '1 when the last OK nightly run is within nightly.alertAfterHours', [], (g) =>
    g.set(health(s).ok ? 1 : 0),
  );
  return registry;
}

/** The HTTP server of /metrics and /healthz on metrics.host:metrics.port (127.0.0.1 by default). */
export async function startHealthServer(s: Services): Promise<Server> {
  const registry = metricsRegistry(s);
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') {
      res.writeHead(405, { allow: 'GET' }).end('only GET\n');
      return;
    }
    if (path === '/healthz') {
      try {
        const h = health(s);
        res.writeHead(h.ok ? 200 : 503, { 'content-type': 'text/plain; charset=utf-8' }).end(`${h.text}\n`);
      } catch (err) {
        res.writeHead(503, { 'content-type': 'text/plain' }).end(`not ok: ${(err as Error).message}\n`);
      }
      return;
    }
    if (path === '/metrics') {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`),
      );
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('/metrics or /healthz\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(s.config.metrics.port, s.config.metrics.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  s.log.info('metrics and health', { url: `http://${addr.address}:${addr.port}/metrics` });
  return server;
}
