// Parse and analyze KQL with Microsoft's Kusto language service (npm @kusto/language-service-next).
// stdin: {"tables": {name: "(col:type, ...)"}, "functions": {name: "body"}, "queries": {name: "text"}}
// stdout: {name: ["Error <message> @<offset>", ...]} for every function body and query (empty list: valid).
require('@kusto/language-service-next/bridge.js');
require('@kusto/language-service-next/Kusto.Language.Bridge.js');

const K = Kusto.Language;
const S = K.Symbols;

function diagnostics(text, globals) {
  const found = K.KustoCode.ParseAndAnalyze(text, globals).GetDiagnostics();
  const out = [];
  for (let i = 0; i < found.Count; i++) {
    const d = found.getItem(i);
    out.push(`${d.Severity} ${d.Message} @${d.Start}`);
  }
  return out;
}

let input = '';
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', () => {
  const request = JSON.parse(input);
  const tables = Object.entries(request.tables).map(([name, schema]) => new S.TableSymbol.$ctor7(name, schema, ''));
  const tablesOnly = K.GlobalState.Default.WithDatabase(new S.DatabaseSymbol.ctor('logs', tables));
  const functions = Object.entries(request.functions || {}).map(
    ([name, body]) => new S.FunctionSymbol.$ctor16(name, '()', `{\n${body}\n}`, ''));
  const globals = K.GlobalState.Default.WithDatabase(new S.DatabaseSymbol.ctor('logs', [...tables, ...functions]));
  const result = {};
  for (const [name, body] of Object.entries(request.functions || {})) result[name] = diagnostics(body, tablesOnly);
  for (const [name, text] of Object.entries(request.queries)) result[name] = diagnostics(text, globals);
  process.stdout.write(JSON.stringify(result));
});
