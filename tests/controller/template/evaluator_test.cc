#include <thread>

#include <gtest/gtest.h>

#include "controller/template/template.h"

namespace tachyon::tmpl {
namespace {

using nlohmann::json;

class EvaluatorTest : public ::testing::Test {
 protected:
  EvaluatorTest() {
    vars_ = json::parse(R"({
      "n": 5, "s": "hi", "t": true, "none": null, "l": [3, 1, 2],
      "d": {"b": 2, "a": 1}, "r": {"rc": 0, "finished": 1, "results": [{"rc": 0}, {"rc": 1}]},
      "groups": {"web": ["w1", "w2", "w3"]}, "i": 4
    })");
    ctx_.vars = &vars_;
  }

  json Value(const std::string& text) {
    auto v = RenderValue(text, ctx_);
    EXPECT_TRUE(v.ok()) << text << ": " << v.status();
    return v.ok() ? *v : json();
  }

  absl::Status Error(const std::string& text) {
    auto v = RenderValue(text, ctx_);
    EXPECT_FALSE(v.ok()) << text << " gave " << (v.ok() ? v->dump() : "");
    return v.status();
  }

  json vars_;
  Context ctx_;
};

TEST_F(EvaluatorTest, AnsibleValueTypes) {
  EXPECT_EQ(Value("no template"), json("no template"));
  EXPECT_EQ(Value("{{ n }}"), json(5));          // a single variable keeps its type
  EXPECT_EQ(Value("{{ n + 1 }}"), json("6"));    // any other expression is text...
  EXPECT_EQ(Value("{{ l }}"), json::parse("[3, 1, 2]"));  // ...unless it reads as a list
  EXPECT_EQ(Value("{{ t and t }}"), json(true));  // or True/False
  EXPECT_EQ(Value("{{ none }}"), json(nullptr));
  EXPECT_EQ(Value("{{ none ~ '' }}"), json("None"));
  EXPECT_EQ(Value("x{{ none }}y"), json("xy"));
  EXPECT_EQ(Value("{{ l | to_json }}"), json("[3, 1, 2]"));  // to_json output stays text
  EXPECT_EQ(Value("{{ (1, 2) }}"), json("(1, 2)"));          // a tuple prints as a tuple
}

TEST_F(EvaluatorTest, PythonArithmetic) {
  EXPECT_EQ(Value("{{ 7 / 2 }}"), json("3.5"));
  EXPECT_EQ(Value("{{ -7 // 2 }}"), json("-4"));
  EXPECT_EQ(Value("{{ -7 % 3 }}"), json("2"));
  EXPECT_EQ(Value("{{ 2 ** 62 }}"), json("4611686018427387904"));
  EXPECT_NE(Error("{{ 2 ** 64 }}").message().find("integer overflow"), std::string::npos);
  EXPECT_NE(Error("{{ 1 / 0 }}").message().find("division by zero"), std::string::npos);
}

TEST_F(EvaluatorTest, SeedPatterns) {
  EXPECT_EQ(Value("{{ groups['web'][i % groups['web']|length] }}"), json("w2"));
  EXPECT_EQ(Value("{{ r.results | selectattr('rc', 'equalto', 0) | list | length }}"), json("1"));
  EXPECT_EQ(Value("{{ range(1, 4) | list }}"), json::parse("[1, 2, 3]"));
  EXPECT_EQ(*EvalCondition("r.finished", ctx_), true);
  EXPECT_EQ(*EvalCondition("r.rc != 0", ctx_), false);
}

TEST_F(EvaluatorTest, UndefinedErrorsNameTheVariable) {
  absl::Status s = Error("{{ missing }}");
  EXPECT_EQ(std::string(s.message()), "'missing' is undefined");
  EXPECT_TRUE(IsUndefinedVariableError(s));
  s = Error("{{ d.nope }}");
  EXPECT_EQ(std::string(s.message()), "'dict object' has no attribute 'nope'");
  EXPECT_TRUE(IsUndefinedVariableError(s));
  // Only default and the defined/undefined tests swallow it.
  EXPECT_EQ(Value("{{ missing | default('x') }}"), json("x"));
  EXPECT_EQ(Value("{{ missing.deeper is defined }}"), json(false));
  EXPECT_FALSE(IsUndefinedVariableError(Error("{{ 1 + 'a' }}")));
}

TEST_F(EvaluatorTest, Conditions) {
  EXPECT_TRUE(*EvalCondition("n == 5 and s is string", ctx_));
  EXPECT_FALSE(*EvalCondition("missing is defined", ctx_));
  EXPECT_TRUE(*EvalCondition("{{ t }}", ctx_));
  EXPECT_FALSE(EvalCondition("missing", ctx_).ok());
  EXPECT_FALSE(EvalCondition("a if b else c", ctx_).ok());  // as Ansible's {% if %} wrapper
}

TEST_F(EvaluatorTest, EvalExpressionReturnsNativeValues) {
  EXPECT_EQ(*EvalExpression("n + 1", ctx_), json(6));
  EXPECT_EQ(*EvalExpression("l | sort", ctx_), json::parse("[1, 2, 3]"));
}

TEST_F(EvaluatorTest, TextTemplates) {
  auto text = RenderText("{% for x in l | sort %}\n{{ loop.index }}={{ x }}\n{% endfor %}\n", ctx_);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, "1=1\n2=2\n3=3\n");
  auto macro = RenderText("{% macro m(a, b=2) %}{{ a + b }}{% endmacro %}{{ m(1) }} {{ m(1, b=5) }}", ctx_);
  EXPECT_EQ(*macro, "3 6");
}

TEST_F(EvaluatorTest, RenderDeepRendersEveryString) {
  auto out = RenderDeep(json::parse(R"({"a": "{{ n }}", "b": ["{{ s }}", 1], "c": {"d": "{{ l }}"}})"), ctx_);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, json::parse(R"({"a": 5, "b": ["hi", 1], "c": {"d": [3, 1, 2]}})"));
}

TEST_F(EvaluatorTest, IncludesAndFileLookupsUseTheLoader) {
  EXPECT_FALSE(RenderText("{% include 'x.j2' %}", ctx_).ok());
  ctx_.read_file = [](std::string_view path) -> absl::StatusOr<std::string> {
    if (path == "x.j2") return std::string("[{{ s }}]\n");
    return absl::NotFoundError("nope");
  };
  EXPECT_EQ(*RenderText("{% include 'x.j2' %}", ctx_), "[hi]");
  EXPECT_EQ(Value("{{ lookup('file', 'x.j2') }}"), json("[{{ s }}]"));
  EXPECT_EQ(Value("{{ lookup('template', 'x.j2') }}"), json("[hi]"));  // not a literal: stays text
  ctx_.get_env = [](std::string_view) { return std::optional<std::string>("val"); };
  EXPECT_EQ(Value("{{ lookup('env', 'ANY') }}"), json("val"));
}

TEST_F(EvaluatorTest, ResolveHookAndVariableTemplating) {
  ctx_.resolve = [](std::string_view name) -> std::optional<json> {
    if (name == "lazy") return json("{{ n * 2 }}");
    return std::nullopt;
  };
  EXPECT_EQ(Value("{{ lazy }}"), json("{{ n * 2 }}"));
  ctx_.template_variable_values = true;
  EXPECT_EQ(Value("{{ lazy }}"), json("10"));
  // A variable defined in terms of itself ends with an error, not a stack overflow.
  json loop_vars = json::parse(R"({"a": "{{ b }}", "b": "{{ a }}"})");
  ctx_.vars = &loop_vars;
  EXPECT_EQ(Error("{{ a }}").code(), absl::StatusCode::kResourceExhausted);
}

TEST_F(EvaluatorTest, LimitsBoundHostileTemplates) {
  // Deeply nested documents would overflow the stack of recursive walkers.
  EXPECT_NE(Error("{{ ('[' * 100000) | from_json }}").message().find("nests deeper"), std::string::npos);
  EXPECT_NE(Error("{{ ('[' * 100000) | from_yaml }}").message().find("nests deeper"), std::string::npos);
  EXPECT_EQ(Error("{{ range(10000000) | list }}").code(), absl::StatusCode::kResourceExhausted);
  ctx_.limits.max_output_bytes = 1000;
  EXPECT_EQ(Error("{{ 'x' * 100000 }}").code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(Error("{% for i in range(2000) %}xx{% endfor %}").code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(Error("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}").code(),
            absl::StatusCode::kResourceExhausted);
  ctx_.limits.max_loop_iterations = 100;
  EXPECT_EQ(Error("{% for i in range(50) %}{% for j in range(50) %}{% endfor %}{% endfor %}").code(),
            absl::StatusCode::kResourceExhausted);
}

TEST_F(EvaluatorTest, InvalidUtf8NeverThrows) {
  // Found by the fuzzer: a rendered condition with invalid UTF-8 made nlohmann's dump() throw.
  const std::string bad = "{{ 'a\xb4\xb4{{ (1 }}*'.split(' ', 1) }}";
  auto c = EvalCondition(bad, ctx_);
  EXPECT_NE(c.status().code(), absl::StatusCode::kInternal) << c.status();
  auto v = RenderValue("{{ '\xb4\xff' }}", ctx_);
  EXPECT_TRUE(v.ok());
}

TEST_F(EvaluatorTest, RegexInputsThatBreakStdRegexAreRejected) {
  // Found by the fuzzer: libstdc++ parses back-reference numbers without overflow checks.
  EXPECT_FALSE(RenderValue("{{ s is search('\\\\\\2222222222222222222222A') }}", ctx_).ok());
  EXPECT_FALSE(RenderValue("{{ s is search('a{99999999999999}') }}", ctx_).ok());
  EXPECT_FALSE(RenderValue("{{ s is search('" + std::string(100, '(') + "a" + std::string(100, ')') + "') }}", ctx_).ok());
  EXPECT_EQ(Value("{{ 'aXbX' | regex_replace('(X)', '\\1\\1') }}"), json("aXXbXX"));
}

TEST_F(EvaluatorTest, PlainJinjaRendersNoneAsNone) {
  auto text = RenderJinja("{{ none }}|{% if true %}\nx{% endif %}", ctx_);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, "None|\nx");  // no trim_blocks, no Ansible finalize
}

TEST_F(EvaluatorTest, ConcurrentRendersShareTheParseCache) {
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        auto v = RenderValue("{{ l | sort | join(',') }}-" + std::to_string(i % 10), ctx_);
        if (v.ok() && v->get<std::string>().rfind("1,2,3-", 0) == 0) ++ok;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 800);
}

}  // namespace
}  // namespace tachyon::tmpl
