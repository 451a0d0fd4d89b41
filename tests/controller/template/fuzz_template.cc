// libFuzzer target for the template engine: the input is a template, rendered as text, as a
// task argument and as a condition. Any crash, hang or sanitizer report is a bug; errors are
// the expected outcome for most inputs.

#include <cstddef>
#include <cstdint>
#include <string>

#include "controller/template/template.h"
#include "nlohmann/json.hpp"

namespace {

const nlohmann::json& Vars() {
  static const nlohmann::json* vars = new nlohmann::json(nlohmann::json::parse(R"({
    "n": 5, "f": 2.5, "s": "Hello World", "t": true, "none": null, "l": [3, 1, 2],
    "d": {"b": 2, "a": 1, "c": {"x": [1, 2]}},
    "users": [{"name": "a", "uid": 1, "groups": ["x"]}, {"name": "b", "uid": 2, "groups": []}],
    "r": {"rc": 0, "finished": 1, "results": [{"rc": 0}, {"rc": 1, "failed": true}]},
    "groups": {"web": ["w1", "w2"]}
  })"));
  return *vars;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  tachyon::tmpl::Context ctx;
  ctx.vars = &Vars();
  // Small limits keep each execution fast; the limits themselves are under test too.
  ctx.limits.max_output_bytes = 1 << 20;
  ctx.limits.max_range = 10000;
  ctx.limits.max_loop_iterations = 100000;
  ctx.limits.max_call_depth = 32;
  ctx.read_file = [](std::string_view path) -> absl::StatusOr<std::string> {
    if (path == "self.j2") return std::string("{% include 'self.j2' %}");
    if (path == "part.j2") return std::string("{{ n }} {{ s | upper }}");
    return absl::NotFoundError("no such file");
  };
  ctx.get_env = [](std::string_view) { return std::optional<std::string>("env"); };
  (void)tachyon::tmpl::RenderText(input, ctx, "fuzz");
  (void)tachyon::tmpl::RenderValue(input, ctx);
  (void)tachyon::tmpl::EvalCondition(input, ctx);
  (void)tachyon::tmpl::EvalExpression(input, ctx);
  return 0;
}
