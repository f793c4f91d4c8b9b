// Grafana's own frontend libraries, loaded per version (tests/grafana_js/grafana-<version>/package.json pins
// @grafana/data, @grafana/schema and @grafana/runtime at the versions that Grafana release ships), in the
// browser-like environment Grafana's own unit tests use (jsdom, as jest-environment-jsdom provides).
//
// Two registries are filled the way the Grafana app fills them at start-up, because the npm packages ship
// them empty (the app adds its React option editors):
// - standardFieldConfigEditorRegistry: the ten standard field options of
//   public/app/core/components/OptionsUI/registry.tsx getAllStandardFieldConfigs (unit, min, max, decimals,
//   displayName, color, noValue, links, mappings, thresholds) with the same ids, paths, processors (exported by
//   @grafana/data), settings, defaults and shouldApply; only the editors are left out.
// - standardTransformersRegistry: every transformer of @grafana/data's standardTransformers, as
//   public/app/features/transformers/standardTransformers.ts registers them.
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import { JSDOM } from 'jsdom';

export const VERSIONS = ['11.6', '12.0'];

let browser = null;

function installBrowserGlobals() {
  if (browser) return;
  browser = new JSDOM('<!doctype html><html><body></body></html>', { url: 'http://localhost:3000/' });
  globalThis.window = browser.window;
  for (const key of ['document', 'navigator', 'localStorage', 'sessionStorage', 'HTMLElement', 'getComputedStyle']) {
    if (!(key in globalThis)) {
      Object.defineProperty(globalThis, key, { value: browser.window[key], configurable: true, writable: true });
    }
  }
}

function standardFieldConfigs(data) {
  const { FieldType } = data;
  const always = () => true;
  const numeric = (field) => field.type === FieldType.number;
  return [
    { id: 'unit', path: 'unit', process: data.stringOverrideProcessor, settings: { placeholder: 'none' }, shouldApply: always },
    { id: 'min', path: 'min', process: data.numberOverrideProcessor, settings: { placeholder: 'auto' }, shouldApply: numeric },
    { id: 'max', path: 'max', process: data.numberOverrideProcessor, settings: { placeholder: 'auto' }, shouldApply: numeric },
    {
      id: 'decimals',
      path: 'decimals',
      process: data.numberOverrideProcessor,
      settings: { placeholder: 'auto', min: 0, max: 15, integer: true },
      shouldApply: numeric,
    },
    {
      id: 'displayName',
      path: 'displayName',
      process: data.displayNameOverrideProcessor,
      settings: { placeholder: 'none', expandTemplateVars: true },
      shouldApply: always,
    },
    {
      id: 'color',
      path: 'color',
      process: data.identityOverrideProcessor,
      settings: { byValueSupport: true, preferThresholdsMode: true },
      shouldApply: always,
    },
    { id: 'noValue', path: 'noValue', process: data.stringOverrideProcessor, settings: { placeholder: '-' }, shouldApply: always },
    { id: 'links', path: 'links', process: data.dataLinksOverrideProcessor, settings: { placeholder: '-' }, shouldApply: always },
    {
      id: 'mappings',
      path: 'mappings',
      process: data.valueMappingsOverrideProcessor,
      settings: {},
      defaultValue: [],
      shouldApply: (field) => field.type !== FieldType.time,
    },
    {
      id: 'thresholds',
      path: 'thresholds',
      process: data.thresholdsOverrideProcessor,
      settings: {},
      defaultValue: {
        mode: data.ThresholdsMode.Absolute,
        steps: [
          { value: -Infinity, color: 'green' },
          { value: 80, color: 'red' },
        ],
      },
      shouldApply: always,
    },
  ].map((item) => ({ name: item.id, category: ['Standard options'], ...item }));
}

const loaded = new Map();

// { version, data, schema, rxjs, toDataQueryError, theme } for Grafana `version` ('11.6' or '12.0').
export async function loadGrafana(version) {
  if (loaded.has(version)) return loaded.get(version);
  installBrowserGlobals();
  const require = createRequire(new URL(`../grafana-${version}/package.json`, import.meta.url));
  const data = require('@grafana/data');
  const schema = require('@grafana/schema');
  const rxjs = require(createRequire(require.resolve('@grafana/data')).resolve('rxjs'));
  // @grafana/runtime's index pulls in @grafana/ui and React; its error mapping is a module of its own.
  const runtimeDir = path.dirname(require.resolve('@grafana/runtime/package.json'));
  const errors = await import(pathToFileURL(path.join(runtimeDir, 'dist/esm/utils/toDataQueryError.mjs')).href);
  data.standardFieldConfigEditorRegistry.setInit(() => standardFieldConfigs(data));
  data.standardTransformersRegistry.setInit(() => {
    const byId = new Map(Object.values(data.standardTransformers).map((t) => [t.id, t])); // aliases share an id
    return [...byId.values()].map((t) => ({
      id: t.id,
      name: t.name,
      description: t.description,
      transformation: t,
      editor: () => null,
    }));
  });
  const grafana = {
    version: require('@grafana/data/package.json').version,
    schemaVersion: require('@grafana/schema/package.json').version,
    runtimeVersion: require('@grafana/runtime/package.json').version,
    data,
    schema,
    rxjs,
    toDataQueryError: errors.toDataQueryError,
    theme: data.createTheme(), // Grafana's default (dark) theme
  };
  loaded.set(version, grafana);
  return grafana;
}

// A colour name as the display processor resolves it (theme.visualization.getColorByName), as hex.
export function color(grafana, name) {
  return grafana.data.colorManipulator.asHexString(grafana.theme.visualization.getColorByName(name));
}
