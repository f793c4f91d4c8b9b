// Grafana conformance: Grafana 11.6's and 12.0's frontend libraries on hrvcast's real answers.
// Run by tests/server/web/test_grafana_conformance.py, which serves the app and writes the case file
// (HRVCAST_CONFORMANCE_CASE): the data source URL and token, the store's users, the committed dashboards, and
// frames in every score state shaped by the server's reply functions.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';

import { color, loadGrafana, VERSIONS } from './lib/grafana.mjs';
import { annotationEvents, panelData, panelsOf, seriesPoints, statTiles, tableRows } from './lib/panels.mjs';
import { panelError, queryRequest, SimpodDataSource, TemplateSrv } from './lib/simpod.mjs';

const CASE = JSON.parse(readFileSync(process.env.HRVCAST_CONFORMANCE_CASE, 'utf8'));
const HOUR = 3_600_000;
const RANGE = { fromMs: CASE.nowMs - 7 * 24 * HOUR, toMs: CASE.nowMs + 24 * HOUR };
const OVERVIEW = CASE.dashboards['hrvcast-overview.json'];
const USER = CASE.dashboards['hrvcast-user.json'];
// What each state looks like, as docs/grafana.md promises it (written out by hand, not read from the server):
// the tile shows the lowest hour ahead; green 85, yellow 55, red 25 (their forecasts' lowest hours).
const LOOKS = {
  green: { lowest: '85', score: '87', zone: 'green (primed)', color: 'green' },
  yellow: { lowest: '55', score: '57', zone: 'yellow (strain)', color: 'yellow' },
  red: { lowest: '25', score: '35', zone: 'red (burnout risk)', color: 'red' },
  calibrating: { lowest: 'calibrating', score: 'no score', zone: 'calibrating', color: 'blue', cell: 'text' },
  stale: { lowest: 'stale', score: 'no score', zone: 'stale', color: 'text', cell: 'text' },
};
const ALL = { customAll: JSON.stringify(['*']) }; // the overview's "All", sent as its allValue
const MODELS = { model_a: 'lstm', model_b: 'last_value' }; // the user dashboard's forecaster variables, as shipped

function panel(board, title) {
  const found = panelsOf(board).filter((p) => p.title === title);
  assert.equal(found.length, 1, `one panel titled ${title}`);
  return found[0];
}

function templateSrv(grafana, variables) {
  const srv = new TemplateSrv(grafana, variables);
  const format = srv.format.bind(srv);
  srv.format = (value, fmt) => (value?.customAll !== undefined ? value.customAll : format(value, fmt)); // CustomAllValue
  return srv;
}

function datasource(grafana, variables = {}) {
  return new SimpodDataSource(grafana, { url: CASE.datasourceUrl, token: CASE.token, templateSrv: templateSrv(grafana, variables) });
}

async function run(grafana, ds, targets) {
  return (await ds.query(queryRequest(grafana, { targets, ...RANGE }))).data;
}

function frames(grafana, target) {
  return CASE.stateFrames[target].map((f) => grafana.data.toDataFrame(structuredClone(f)));
}

for (const version of VERSIONS) {
  describe(`Grafana ${version}`, async () => {
    const grafana = await loadGrafana(version);
    const srv = templateSrv(grafana, {});

    test('the libraries are the pinned releases', () => {
      assert.match(grafana.version, new RegExp(`^${version.replace('.', '\\.')}\\.`));
      assert.equal(grafana.schemaVersion, grafana.version);
      assert.equal(grafana.runtimeVersion, grafana.version);
    });

    test('"Save & test" succeeds on the URL as provisioned, and with a trailing slash', async () => {
      const ds = datasource(grafana);
      assert.deepEqual(await ds.testDatasource(), { status: 'success', message: 'Data source is working', title: 'Success' });
      const slash = new SimpodDataSource(grafana, { url: `${CASE.datasourceUrl}/`, token: CASE.token });
      assert.equal((await slash.fetch({ url: slash.url, method: 'GET' })).status, 200);
    });

    test('both dashboards\' user variables list every user', async () => {
      for (const board of [OVERVIEW, USER]) {
        const [variable] = board.templating.list;
        const values = await datasource(grafana).metricFindQuery(variable.query, { from: RANGE.fromMs, to: RANGE.toMs });
        assert.deepEqual(values.map((v) => v.value), CASE.users);
        assert.deepEqual(values.map((v) => v.text), CASE.users);
      }
    });

    test('the query editor, payload options and ad-hoc filters', async () => {
      const ds = datasource(grafana);
      const metrics = await ds.listMetrics('');
      for (const name of ['rmssd', 'rmssd_forecast', 'fatigue_score', 'fatigue_zone', 'red_zone', 'sleep']) {
        assert.ok(metrics.some((m) => m.value === name), name);
      }
      const options = await ds.listMetricPayloadOptions('user', 'fatigue_score', {});
      assert.deepEqual(options.map((o) => o.value), ['*', ...CASE.users]);
      assert.deepEqual(await ds.getTagKeys({}), [{ type: 'string', text: 'user' }]);
      assert.deepEqual(await ds.getTagValues({ key: 'user' }), CASE.users.map((text) => ({ text })));
    });

    test('every panel and annotation of both dashboards queries without error, with typed fields', async () => {
      for (const [board, variables] of [
        [OVERVIEW, { users: ALL }],
        [OVERVIEW, { users: ['u1', 'new', 'gone'] }],
        [USER, { user: 'u1', ...MODELS }],
        [USER, { user: 'gone', ...MODELS }],
        [USER, { user: CASE.skill.user, model_a: 'history_mean', model_b: 'lstm' }],
      ]) {
        const ds = datasource(grafana, variables);
        const queries = [...panelsOf(board).map((p) => p.targets ?? []), ...board.annotations.list.filter((a) => a.target).map((a) => [a.target])];
        for (const targets of queries) {
          for (const frame of await run(grafana, ds, targets)) {
            for (const field of frame.fields) {
              const expected = /^(time|timeEnd|Time)$/.test(field.name) ? 'time' : /^(user|zone|resolution|title|text|tags)$/.test(field.name) ? 'string' : 'number';
              assert.equal(field.type, expected, `${frame.name} ${field.name}`);
            }
          }
        }
      }
    });

    test('with every user ("All"), the overview shows each user with windows, none without', async () => {
      const data = await run(grafana, datasource(grafana, { users: ALL }), panel(OVERVIEW, 'Fatigue by user').targets);
      const users = data[0].fields.find((f) => f.name === 'user').values;
      assert.deepEqual([...users].sort(), CASE.users.filter((u) => u !== 'beats-only').sort());
    });

    test('calibrating and stale users never look red on the live server', async () => {
      const variables = { users: Object.keys(CASE.withoutScore) };
      const ds = datasource(grafana, variables);
      const tiles = panel(OVERVIEW, 'Lowest fatigue score ahead');
      const shown = statTiles(grafana, tiles, await panelData(grafana, tiles, await run(grafana, ds, tiles.targets), srv), srv);
      assert.deepEqual(shown.map((t) => [t.title, t.text]), Object.entries(CASE.withoutScore));
      for (const tile of shown) assert.notEqual(tile.color, color(grafana, 'red'), tile.title);
      const table = panel(OVERVIEW, 'Fatigue by user');
      for (const row of tableRows(grafana, await panelData(grafana, table, await run(grafana, ds, table.targets), srv))) {
        assert.equal(row.Zone.text, CASE.withoutScore[row.User.text]);
        for (const cell of [row['Score ahead'], row['Lowest point ahead']]) {
          assert.deepEqual(cell, { text: 'no score', color: color(grafana, 'text') });
        }
      }
    });

    test('every score state: tiles, table cells and the zone, in text and colour', async () => {
      const tiles = panel(OVERVIEW, 'Lowest fatigue score ahead');
      const shown = statTiles(grafana, tiles, await panelData(grafana, tiles, frames(grafana, 'fatigue_score'), srv), srv);
      assert.deepEqual(
        shown.map((t) => [t.title, t.text, t.color]),
        Object.entries(LOOKS).map(([state, look]) => [state, look.lowest, color(grafana, look.color)])
      );
      const table = panel(OVERVIEW, 'Fatigue by user');
      const rows = tableRows(grafana, await panelData(grafana, table, frames(grafana, 'fatigue_zone'), srv));
      assert.deepEqual(rows.map((r) => r.User.text), Object.keys(LOOKS));
      for (const row of rows) {
        const look = LOOKS[row.User.text];
        assert.deepEqual(row.Zone, { text: look.zone, color: color(grafana, look.color) });
        const cell = color(grafana, look.cell ?? look.color);
        assert.deepEqual(row['Score ahead'], { text: look.score, color: cell });
        assert.deepEqual(row['Lowest point ahead'], { text: look.cell ? 'no score' : look.lowest, color: cell });
        assert.equal(row['Model (1h hourly, 1d morning readings: 7 days ahead)'].text, '1h'); // named, not "resolution"
      }
      const lowest = panel(USER, 'Lowest score ahead');
      const zone = panel(USER, 'Zone');
      for (const [i, [state, look]] of Object.entries(LOOKS).entries()) {
        const one = [frames(grafana, 'fatigue_score')[i]];
        const [tile] = statTiles(grafana, lowest, await panelData(grafana, lowest, one, srv), srv);
        assert.deepEqual([tile.text, tile.color], [look.lowest, color(grafana, look.color)], state);
        const zoneFrame = frames(grafana, 'fatigue_zone_each')[i];
        const [zoneTile] = statTiles(grafana, zone, await panelData(grafana, zone, [zoneFrame], srv), srv);
        assert.deepEqual([zoneTile.text, zoneTile.color], [look.zone, color(grafana, look.color)], state);
      }
    });

    test('score time series: zone thresholds on every score, no points for a user without a score', async () => {
      for (const ts of [panel(USER, 'Fatigue score forecast (0-100)'), panel(OVERVIEW, 'Fatigue score forecast, all users')]) {
        const data = await panelData(grafana, ts, frames(grafana, 'fatigue_score'), srv);
        const points = seriesPoints(grafana, data);
        for (const [state, look] of Object.entries(LOOKS)) {
          const name = Object.keys(points).find((n) => n.endsWith(state));
          assert.equal(points[name].length, look.cell ? 0 : 3, `${ts.title} ${state}`);
        }
        for (const frame of data) {
          const score = frame.fields.find((f) => f.type === 'number');
          const steps = score.config.thresholds.steps.map((s) => [s.color, s.value ?? -Infinity]); // null: minus infinity
          assert.deepEqual(steps, [['red', -Infinity], ['yellow', 40], ['green', 70]]);
        }
        const notices = data.flatMap((f) => f.meta?.notices ?? []).map((n) => n.text);
        assert.ok(notices.some((t) => t.includes('calibrating is calibrating')) && notices.some((t) => t.includes('stale is stale')));
      }
    });

    test('the track record: the forecast beside the last value per day, and the population per forecaster', async () => {
      const { user } = CASE.skill;
      const mine = panel(USER, 'How good has the forecast been for you');
      const ds = datasource(grafana, { user, ...MODELS });
      const data = await panelData(grafana, mine, await run(grafana, ds, mine.targets), srv);
      const points = seriesPoints(grafana, data);
      const near = (got, want, what) => assert.ok(Math.abs(got - want) < 1e-4, `${what}: ${got} against ${want}`);
      near(points[`MAE lstm (${user})`][0].value, CASE.skill.mae_ln, 'MAE');
      near(points[`MAE last value (${user})`][0].value, CASE.skill.last_value_mae_ln, 'MAE of the last value');
      const coverage = data[0].fields.find((f) => f.config.displayName === `p10-p90 coverage lstm (${user})`);
      assert.equal(grafana.data.formattedValueToString(coverage.display(coverage.values[0])), `${Math.round(100 * CASE.skill.coverage)}%`);
      assert.deepEqual([coverage.config.unit, coverage.config.min, coverage.config.max], ['percentunit', 0, 1]); // the panel's override
      const everyone = panel(OVERVIEW, 'Forecast skill, everyone: MAE against the last value, per forecaster');
      const pooled = await panelData(grafana, everyone, await run(grafana, datasource(grafana, { users: ALL }), everyone.targets), srv);
      const ratios = seriesPoints(grafana, pooled);
      near(ratios.lstm[0].value, CASE.skill.mae_ratio, 'population ratio of the only user with a record');
      assert.ok('history_mean' in ratios && !Object.keys(ratios).some((n) => n.startsWith('MAE ')), Object.keys(ratios).join());
    });

    test('red-zone annotations reach Grafana through /query', async () => {
      const events = await annotationEvents(grafana, frames(grafana, 'red_zone'));
      assert.deepEqual(events, [
        {
          time: CASE.nowMs - 20 * 60_000 + HOUR,
          timeEnd: CASE.nowMs - 20 * 60_000 + 3 * HOUR,
          title: 'red: red zone forecast',
          text: 'fatigue score forecast below 40 (lowest 25)',
          tags: ['red', 'red'],
        },
      ]);
      const [annotation] = USER.annotations.list.filter((a) => a.target);
      const live = await run(grafana, datasource(grafana, { user: 'u1' }), [annotation.target]);
      assert.deepEqual(live[0].fields.map((f) => f.name), ['time', 'timeEnd', 'title', 'text', 'tags']);
      for (const event of await annotationEvents(grafana, live)) assert.ok(event.timeEnd > event.time && event.tags[0] === 'red');
    });

    test('builder mode: a multi-value variable arrives in regex format, (u1|alice\\.b), and is read', async () => {
      const ds = datasource(grafana, { users: ['u1', 'alice.b'] });
      const target = { refId: 'A', target: 'fatigue_score', editorMode: 'builder', payload: { user: '$users' } };
      assert.deepEqual(ds.processPayload(target.payload, 'builder', {}), { user: '(u1|alice\\.b)' });
      const data = await run(grafana, ds, [target]);
      assert.deepEqual(data.map((f) => f.fields[1].labels.user), ['u1', 'alice.b']);
    });

    test('builder mode with the overview\'s "All" (its allValue ["*"], passed through raw) answers every user, with units', async () => {
      const ds = datasource(grafana, { users: ALL });
      const target = { refId: 'A', target: 'rmssd', editorMode: 'builder', payload: { user: '$users' } };
      assert.deepEqual(ds.processPayload(target.payload, 'builder', {}), { user: '["*"]' });
      const data = await run(grafana, ds, [target]);
      const users = data.map((f) => f.fields[1].labels.user);
      assert.ok(users.includes('u1') && users.includes('u2'), users.join());
      for (const frame of data) assert.equal(frame.fields[1].config.unit, 'ms', frame.name); // Explore shows ms
    });

    test('errors are panel errors with the server\'s message', async () => {
      const quoted = datasource(grafana, { users: ['u1', 'u2'] }); // "$users" quoted: invalid JSON, so simPod sends {}
      const broken = { refId: 'A', target: 'fatigue_zone', editorMode: 'code', payload: '{"user": "$users"}' };
      assert.deepEqual(quoted.processPayload(broken.payload, 'code', {}), {});
      const noUser = await panelError(grafana, run(grafana, quoted, [broken]));
      assert.equal(noUser.status, 400);
      assert.match(noUser.message, /'fatigue_zone' \(refId A\) names no user/);
      assert.match(noUser.message, /\{"user": "\*"\}/);
      const ghost = { refId: 'A', target: 'rmssd', editorMode: 'code', payload: '{"user": "ghost"}' };
      const unknown = await panelError(grafana, run(grafana, datasource(grafana), [ghost]));
      assert.equal(unknown.status, 404);
      assert.match(unknown.message, /^user\(s\) 'ghost' have no data in the store/);
    });

    test('the dashboards use only what @grafana/schema defines', () => {
      const { schema } = grafana;
      const values = (e) => new Set(Object.values(e));
      for (const board of [OVERVIEW, USER]) {
        assert.ok(board.schemaVersion <= schema.defaultDashboard.schemaVersion, 'no newer schema than this Grafana');
        assert.ok(values(schema.DashboardCursorSync).has(board.graphTooltip));
        for (const v of board.templating.list) {
          assert.ok(values(schema.VariableRefresh).has(v.refresh) && values(schema.VariableSort).has(v.sort));
        }
        for (const p of panelsOf(board)) {
          const configs = [p.fieldConfig.defaults, ...p.fieldConfig.overrides.flatMap((o) => o.properties.map((x) => ({ [x.id]: x.value })))];
          for (const c of configs) {
            if (c.thresholds) assert.ok(values(schema.ThresholdsMode).has(c.thresholds.mode));
            for (const m of c.mappings ?? []) {
              assert.ok(values(schema.MappingType).has(m.type), m.type);
              if (m.type === 'special') assert.ok(values(schema.SpecialValueMatch).has(m.options.match));
            }
          }
          if (p.type === 'stat') {
            assert.ok(values(schema.BigValueColorMode).has(p.options.colorMode) && values(schema.BigValueGraphMode).has(p.options.graphMode));
            assert.ok(values(schema.BigValueTextMode).has(p.options.textMode));
          }
          const style = p.fieldConfig.defaults.custom?.thresholdsStyle;
          if (style) assert.ok(values(schema.GraphThresholdsStyleMode).has(style.mode));
        }
      }
    });
  });
}
