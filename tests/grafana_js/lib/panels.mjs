// What a person sees in a panel: Grafana's own pipeline from data frames to text and colour.
// Order as in Grafana's query runner: the panel's transformations (transformDataFrame), then its field config
// (applyFieldOverrides, which sets each field's display processor); then per visualization:
// - stat: getFieldDisplayValues with the panel's reduceOptions (what public/app/plugins/panel/stat renders)
// - table: each cell's field.display(value) (the table's cell renderers colour by display.color)
// - annotations: standardAnnotationSupport's getAnnotationsFromData
//   (public/app/features/annotations/standardAnnotationSupport.ts): fields found by lowercased display name
//   time, timeEnd, title, text, tags (tags split on commas); without a time and a text field, no event.

export async function panelData(grafana, panel, frames, templateSrv) {
  const { data, rxjs } = grafana;
  let series = frames;
  if (panel.transformations?.length) {
    series = await rxjs.lastValueFrom(data.transformDataFrame(panel.transformations, series));
  }
  return data.applyFieldOverrides({
    data: series,
    fieldConfig: panel.fieldConfig,
    replaceVariables: (value, scopedVars, format) => templateSrv.replace(value, scopedVars, format),
    theme: grafana.theme,
    timeZone: 'utc',
  });
}

// Colours as hex, whatever notation the theme used (#ccccdc and rgb(204, 204, 220) are one colour).
export function hex(grafana, value) {
  return value === undefined ? value : grafana.data.colorManipulator.asHexString(value);
}

function shown(grafana, display) {
  return { text: grafana.data.formattedValueToString(display), color: hex(grafana, display.color) };
}

// One tile per value: {title, text, color}.
export function statTiles(grafana, panel, data, templateSrv) {
  const values = grafana.data.getFieldDisplayValues({
    fieldConfig: panel.fieldConfig,
    reduceOptions: panel.options.reduceOptions,
    replaceVariables: (value, scopedVars, format) => templateSrv.replace(value, scopedVars, format),
    theme: grafana.theme,
    data,
    timeZone: 'utc',
  });
  return values.map((v) => ({ title: v.display.title, ...shown(grafana, v.display) }));
}

// Rows of {column display name: {text, color}} of the first frame.
export function tableRows(grafana, data) {
  const [frame] = data;
  const fields = frame.fields.map((f) => [grafana.data.getFieldDisplayName(f, frame, data), f]);
  const rows = [];
  for (let i = 0; i < frame.length; i++) {
    rows.push(Object.fromEntries(fields.map(([name, f]) => [name, shown(grafana, f.display(f.values[i]))])));
  }
  return rows;
}

// The value of every number field, as each point would be drawn: {field display name: [{value, color}]}.
export function seriesPoints(grafana, data) {
  const out = {};
  for (const frame of data) {
    for (const f of frame.fields) {
      if (f.type !== 'number') continue;
      out[grafana.data.getFieldDisplayName(f, frame, data)] = f.values.map((v) => ({ value: v, color: hex(grafana, f.display(v).color) }));
    }
  }
  return out;
}

export async function annotationEvents(grafana, frames) {
  const { data, rxjs } = grafana;
  let frame = frames[0];
  if (frames.length > 1) {
    const joined = data.transformDataFrame([{ id: 'seriesToColumns', options: { byField: 'Time' } }], frames);
    [frame] = await rxjs.lastValueFrom(joined);
  }
  if (!frame?.length) return [];
  const byName = {};
  for (const f of frame.fields) byName[data.getFieldDisplayName(f, frame).toLowerCase()] = f;
  const time = byName.time ?? frame.fields.find((f) => f.type === 'time');
  const text = byName.text ?? frame.fields.find((f) => f.type === 'string');
  if (!time || !text) return [];
  const keys = { time, timeEnd: byName.timeend, title: byName.title, text, tags: byName.tags };
  const events = [];
  for (let i = 0; i < frame.length; i++) {
    const event = {};
    for (const [key, f] of Object.entries(keys)) {
      if (!f) continue;
      const v = f.values[i];
      if (v !== undefined) event[key] = key === 'tags' && typeof v === 'string' ? v.split(',') : v;
    }
    events.push(event);
  }
  return events;
}

// Every panel of a dashboard, rows' collapsed panels included.
export function panelsOf(board) {
  return board.panels.flatMap((p) => [p, ...(p.panels ?? [])]).filter((p) => p.type !== 'row');
}
