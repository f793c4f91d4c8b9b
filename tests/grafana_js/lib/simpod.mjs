// The requests simpod-json-datasource 0.6.5 sends, and what it does with the answers. The plugin is not on
// npm; this follows its source, github.com/simPod/GrafanaJsonDatasource tag v0.6.5 (commit 284092cd),
// line numbers of src/DataSource.ts unless another file is named:
// - query (63-85): processTargets, then POST `${url}/query` with the whole request, then
//   response.data.map(toDataFrame)
// - testDatasource (89-125): GET `${url}` itself; "success" only on status 200
// - metricFindQuery (127-137) and variable/VariableSupport.ts (41-51): the variable's query, interpolated in
//   JSON format and JSON.parse'd ("Raw JSON" on), or {target} in regex format; MetricFindQuery.ts (24-35): POST
//   `${url}/variable` {payload, range}; response_parser.ts (6-31): toDataFrame, then __text/__value
// - listMetricPayloadOptions (139-161), listMetrics (163-195): POST /metric-payload-options and /metrics
// - getTagKeys, getTagValues (197-215): POST /tag-keys and /tag-values with Grafana's options object
// - processPayload (230-257): code mode: each template variable replaced through cleanMatch (281-287: the
//   variable in JSON format, a quoted result unquoted), then JSON.parse; builder mode: every value replaced
//   in regex format; on any error the payload sent is {}
// - annotations = {} (87): Grafana's standard annotation support runs the annotation's target through query.
//
// Template interpolation is Grafana's (dashboards are Scenes in 11.6 and 12.0): the variable syntax is scenes'
// VARIABLE_REGEX (packages/scenes/src/variables/constants.ts line 15, identical at v6.5.0 and v6.10.4), the
// formats its formatRegistry.ts: json (lines 163-172: a string as it is, anything else JSON.stringify) and regex
// (lines 63-89: @grafana/data's escapeRegex on each value, several values as (a|b)).
// Grafana's backend_srv rejects a non-2xx answer with a FetchError {status, statusText, data, config}.

const VARIABLE_REGEX = /\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\${(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?}/g;

export class TemplateSrv {
  // variables: {name: value}, a value a string or an array of strings (a multi-value variable)
  constructor(grafana, variables = {}) {
    this.grafana = grafana;
    this.variables = variables;
    this.regex = VARIABLE_REGEX;
  }

  format(value, format) {
    if (format === 'json') return typeof value === 'string' ? value : JSON.stringify(value);
    if (format === 'regex') {
      const escape = this.grafana.data.escapeRegex;
      if (typeof value === 'string') return escape(value);
      const escaped = value.map((item) => escape(String(item)));
      return escaped.length === 1 ? escaped[0] : `(${escaped.join('|')})`;
    }
    return Array.isArray(value) ? `{${value.join(',')}}` : String(value); // glob, the default for a list
  }

  // ${__field.*} in field options (displayName): scenes' FieldMacro (variables/macros/dataMacros.ts lines
  // 159-185) reads the field of the data context through @grafana/data's getTemplateProxyForField, which
  // answers name, displayName and labels.
  fieldValue({ frame, field, data }, fieldPath) {
    const [key, ...rest] = fieldPath.split('.');
    if (key === 'name') return field.name;
    if (key === 'displayName') return this.grafana.data.getFieldDisplayName(field, frame, data);
    if (key === 'labels' || key === 'formattedLabels') return rest.reduce((o, k) => o?.[k], field.labels ?? {}) ?? '';
    return '';
  }

  replace(text, scopedVars = {}, format) {
    if (typeof text !== 'string') return text;
    return text.replace(VARIABLE_REGEX, (match, v1, v2, fmt2, v3, fieldPath, fmt3) => {
      const name = v1 || v2 || v3;
      if (name === '__field' && scopedVars?.__dataContext && fieldPath) {
        const value = this.fieldValue(scopedVars.__dataContext.value, fieldPath);
        return this.format(value, fmt2 || fmt3 || format);
      }
      const scoped = scopedVars?.[name];
      if (scoped !== undefined) {
        const value = fieldPath ? fieldPath.split('.').reduce((o, k) => o?.[k], scoped.value) : scoped.value;
        return value === undefined ? match : this.format(value, fmt2 || fmt3 || format);
      }
      if (!(name in this.variables)) return match;
      return this.format(this.variables[name], fmt2 || fmt3 || format);
    });
  }
}

// The data source as the plugin sees it: url is Grafana's proxy route, which joins the provisioned URL and
// the path without adding a slash (http://host:8000/grafana + "" asks for /grafana).
export class SimpodDataSource {
  constructor(grafana, { url, token, templateSrv }) {
    this.grafana = grafana;
    this.url = url;
    this.token = token;
    this.templateSrv = templateSrv ?? new TemplateSrv(grafana);
  }

  async fetch({ url, method, data }) {
    const headers = { 'Content-Type': 'application/json', Authorization: `Bearer ${this.token}` };
    const body = data === undefined ? undefined : JSON.stringify(data);
    const response = await fetch(url, { method, headers, body, redirect: 'manual' });
    const text = await response.text();
    let parsed = text;
    try {
      parsed = JSON.parse(text);
    } catch {}
    if (response.status < 200 || response.status > 299) {
      throw { status: response.status, statusText: response.statusText, data: parsed, config: { url, method, data } };
    }
    return { status: response.status, statusText: response.statusText, data: parsed, headers: response.headers };
  }

  async testDatasource() {
    try {
      const response = await this.fetch({ url: this.url, method: 'GET' });
      if (response.status === 200) return { status: 'success', message: 'Data source is working', title: 'Success' };
      return { status: 'error', message: response.statusText || 'Data source is not working', title: 'Error' };
    } catch (err) {
      return { status: 'error', message: err.statusText ?? 'Data source is not working', title: 'Error' };
    }
  }

  cleanMatch(match, { scopedVars }) {
    const replaced = this.templateSrv.replace(match, scopedVars, 'json');
    if (replaced[0] === '"' && replaced[replaced.length - 1] === '"') return JSON.parse(replaced);
    return replaced;
  }

  processPayload(payload, editorMode, scopedVars) {
    try {
      if (typeof payload === 'string' && editorMode !== 'builder') {
        if (payload.trim() !== '') {
          return JSON.parse(payload.replace(this.templateSrv.regex, (m) => this.cleanMatch(m, { scopedVars })));
        }
        return {};
      }
      const newPayload = typeof payload === 'string' ? JSON.parse(payload) : { ...payload };
      for (const key of Object.keys(newPayload)) {
        const value = newPayload[key];
        newPayload[key] = Array.isArray(value)
          ? value.map((item) => this.templateSrv.replace(item.toString(), scopedVars, 'regex'))
          : this.templateSrv.replace(value.toString(), scopedVars, 'regex');
      }
      return newPayload;
    } catch {
      return {};
    }
  }

  processTargets(options) {
    options.targets = options.targets
      .filter((query) => query.target !== undefined)
      .map((q) => {
        const query = { ...q };
        query.payload = this.processPayload(query.payload ?? '', query.editorMode, options.scopedVars);
        if (typeof query.target === 'string') query.target = this.templateSrv.replace(query.target, options.scopedVars, 'regex');
        return query;
      });
    return options;
  }

  // Grafana's panel query runner filters hidden targets (filterQuery) before calling query.
  async query(options) {
    const request = this.processTargets({ ...options, targets: options.targets.filter((t) => !t.hide) });
    if (request.targets.length === 0) return { data: [] };
    const response = await this.fetch({ url: `${this.url}/query`, method: 'POST', data: request });
    return { ...response, data: response.data.map(this.grafana.data.toDataFrame) };
  }

  async metricFindQuery(variableQuery, range) {
    const interpolated =
      variableQuery.format === 'json'
        ? JSON.parse(this.templateSrv.replace(variableQuery.query, undefined, 'json'))
        : { target: this.templateSrv.replace(variableQuery.query, undefined, 'regex') };
    const response = await this.fetch({ url: `${this.url}/variable`, method: 'POST', data: { payload: interpolated, range } });
    const frame = this.grafana.data.toDataFrame(response.data);
    const text = frame.fields.find((f) => f.name === '__text');
    const value = frame.fields.find((f) => f.name === '__value');
    const values = [];
    if (text && value) {
      for (let i = 0; i < text.values.length; i++) values.push({ text: '' + text.values[i], value: '' + value.values[i] });
    } else {
      values.push(...frame.fields.flatMap((f) => f.values).map((v) => ({ text: v })));
    }
    return Array.from(new Set(values.map((v) => v.text))).map((t) => ({ text: t, value: values.find((v) => v.text === t)?.value }));
  }

  async listMetrics(target, payload) {
    const data = {
      metric: target.toString() ? this.templateSrv.replace(target.toString(), undefined, 'regex') : undefined,
      payload: payload ? this.processPayload(payload, 'builder', undefined) : undefined,
    };
    const response = await this.fetch({ url: `${this.url}/metrics`, method: 'POST', data });
    return Array.isArray(response.data) ? response.data : [];
  }

  async listMetricPayloadOptions(name, metric, payload) {
    const data = { metric, payload: this.processPayload(payload, 'builder', undefined), name };
    const response = await this.fetch({ url: `${this.url}/metric-payload-options`, method: 'POST', data });
    return Array.isArray(response.data) ? response.data.map((item) => ({ ...item, label: item.label ? item.label : item.value })) : [];
  }

  async getTagKeys(options) {
    return (await this.fetch({ url: `${this.url}/tag-keys`, method: 'POST', data: options })).data;
  }

  async getTagValues(options) {
    return (await this.fetch({ url: `${this.url}/tag-values`, method: 'POST', data: options })).data;
  }
}

// The DataQueryRequest Grafana's query runner hands a data source (keys as the protocol notes list them).
export function queryRequest(grafana, { targets, fromMs, toMs, raw = { from: 'now-1h', to: 'now+24h' }, filters }) {
  const { dateTime } = grafana.data;
  const request = {
    app: 'dashboard',
    requestId: 'SQR100',
    timezone: 'browser',
    range: { from: dateTime(fromMs), to: dateTime(toMs), raw },
    interval: '1m',
    intervalMs: 60000,
    targets,
    maxDataPoints: 1000,
    scopedVars: { __interval: { text: '1m', value: '1m' }, __interval_ms: { text: '60000', value: 60000 } },
    startTime: toMs,
    rangeRaw: raw,
  };
  if (filters) request.filters = filters;
  return request;
}

// What a panel shows for a failed query: Grafana's runRequest turns the rejection into a DataQueryError.
export async function panelError(grafana, promise) {
  try {
    await promise;
  } catch (err) {
    return grafana.toDataQueryError(err);
  }
  return undefined;
}
