// Renders conformance cases with tachyon's engine: reads JSON lines
//   {"id": "...", "kind": "ansible" | "jinja" | "when", "template": "..."}
// and prints one JSON line per case:
//   {"id": "...", "ok": true, "value": ...} or {"id": "...", "ok": false, "error": "...", "undefined": bool}
// Usage: render_tool VARS.json [TEMPLATE_DIR] < cases.jsonl

#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "controller/template/template.h"
#include "nlohmann/json.hpp"

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::cerr << "usage: render_tool VARS.json [TEMPLATE_DIR] < cases.jsonl\n";
    return 2;
  }
  std::ifstream vars_file(argv[1]);
  std::stringstream buffer;
  buffer << vars_file.rdbuf();
  // Ordered, as Ansible keeps the order of the variables file's mappings.
  const nlohmann::ordered_json vars = nlohmann::ordered_json::parse(buffer.str(), nullptr, false);
  if (vars.is_discarded() || !vars.is_object()) {
    std::cerr << "render_tool: " << argv[1] << " is not a JSON object\n";
    return 2;
  }
  tachyon::tmpl::Context ctx;
  ctx.ordered_vars = &vars;
  ctx.get_env = [](std::string_view name) -> std::optional<std::string> {
    if (name == "TACHYON_CONFORMANCE") return std::string("yes");
    return std::nullopt;
  };
  const std::string template_dir = argc == 3 ? argv[2] : ".";
  ctx.read_file = [template_dir](std::string_view path) -> absl::StatusOr<std::string> {
    std::ifstream in(template_dir + "/" + std::string(path));
    if (!in) return absl::NotFoundError("no such template");
    std::stringstream content;
    content << in.rdbuf();
    return content.str();
  };
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.empty()) continue;
    const nlohmann::json c = nlohmann::json::parse(line, nullptr, false);
    if (c.is_discarded()) {
      std::cerr << "render_tool: bad case line: " << line << "\n";
      return 2;
    }
    const std::string kind = c.value("kind", "ansible");
    const std::string tmpl = c.value("template", "");
    nlohmann::json out = {{"id", c.value("id", "")}};
    absl::StatusOr<nlohmann::json> result;
    if (kind == "jinja") {
      auto text = tachyon::tmpl::RenderText(tmpl, ctx, "case");
      result = text.ok() ? absl::StatusOr<nlohmann::json>(nlohmann::json(*text)) : text.status();
    } else if (kind == "when") {
      auto b = tachyon::tmpl::EvalCondition(tmpl, ctx);
      result = b.ok() ? absl::StatusOr<nlohmann::json>(nlohmann::json(*b)) : b.status();
    } else {
      result = tachyon::tmpl::RenderValue(tmpl, ctx);
    }
    if (result.ok()) {
      out["ok"] = true;
      out["value"] = *result;
    } else {
      out["ok"] = false;
      out["error"] = std::string(result.status().message());
      out["undefined"] = tachyon::tmpl::IsUndefinedVariableError(result.status());
    }
    std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  }
  return 0;
}
