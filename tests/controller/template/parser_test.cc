#include "controller/template/parser.h"

#include <gtest/gtest.h>

namespace tachyon::tmpl {
namespace {

NodePtr Expr(std::string_view src) {
  auto node = ParseExpression(src, "t", {});
  EXPECT_TRUE(node.ok()) << node.status();
  return node.ok() ? std::move(*node) : nullptr;
}

TEST(ParserTest, Precedence) {
  auto n = Expr("1 + 2 * 3");
  ASSERT_EQ(n->kind, NodeKind::kBinary);
  EXPECT_EQ(n->name, "+");
  EXPECT_EQ(n->children[1]->name, "*");
}

TEST(ParserTest, PowerIsLeftAssociativeInJinja) {
  auto n = Expr("2 ** 3 ** 2");
  ASSERT_EQ(n->kind, NodeKind::kBinary);
  EXPECT_EQ(n->children[0]->kind, NodeKind::kBinary);  // (2 ** 3) ** 2
}

TEST(ParserTest, FilterBindsTighterThanUnaryMinus) {
  auto n = Expr("-1 | abs");
  EXPECT_EQ(n->kind, NodeKind::kFilter);
  EXPECT_EQ(n->children[0]->kind, NodeKind::kNeg);
}

TEST(ParserTest, ChainedComparisonsAndNotIn) {
  auto n = Expr("1 < x <= 3 and y not in z");
  ASSERT_EQ(n->kind, NodeKind::kAnd);
  EXPECT_EQ(n->children[0]->ops, (std::vector<std::string>{"<", "<="}));
  EXPECT_EQ(n->children[1]->ops, (std::vector<std::string>{"notin"}));
}

TEST(ParserTest, TestWithBareArgument) {
  auto n = Expr("x is divisibleby 3");
  ASSERT_EQ(n->kind, NodeKind::kTest);
  EXPECT_EQ(n->name, "divisibleby");
  EXPECT_EQ(n->children.size(), 2u);
  auto neg = Expr("x is not defined");
  EXPECT_TRUE(neg->negated);
}

TEST(ParserTest, QualifiedFilterNames) {
  auto n = Expr("x | ansible.builtin.to_json(indent=2)");
  EXPECT_EQ(n->name, "ansible.builtin.to_json");
  EXPECT_EQ(n->arg_names, (std::vector<std::string>{"indent"}));
}

TEST(ParserTest, SlicesAndTuples) {
  EXPECT_EQ(Expr("x[1:]")->kind, NodeKind::kSlice);
  EXPECT_EQ(Expr("x[::-1]")->kind, NodeKind::kSlice);
  EXPECT_EQ(Expr("(1, 2)")->kind, NodeKind::kTuple);
  EXPECT_EQ(Expr("(1)")->kind, NodeKind::kConst);
  EXPECT_EQ(Expr("x.0")->kind, NodeKind::kGetItem);
}

TEST(ParserTest, ConditionsRejectTopLevelInlineIf) {
  EXPECT_TRUE(ParseExpression("a if b else c", "t", {}, /*with_condexpr=*/true).ok());
  EXPECT_FALSE(ParseExpression("a if b else c", "t", {}, /*with_condexpr=*/false).ok());
  EXPECT_TRUE(ParseExpression("(a if b else c)", "t", {}, /*with_condexpr=*/false).ok());
}

TEST(ParserTest, StatementsNest) {
  auto t = ParseTemplate(
      "{% for x in xs if x %}{% if x %}a{% elif y %}b{% else %}c{% endif %}{% else %}none{% endfor %}",
      "t", {});
  ASSERT_TRUE(t.ok()) << t.status();
  const Node& loop = *(*t)->body[0];
  EXPECT_EQ(loop.kind, NodeKind::kFor);
  EXPECT_NE(loop.children[1], nullptr);
  EXPECT_EQ(loop.else_body.size(), 1u);
  const Node& branch = *loop.body[0];
  EXPECT_EQ(branch.else_body[0]->kind, NodeKind::kIf);  // elif
}

TEST(ParserTest, SyntaxErrorsNameTemplateLineAndColumn) {
  auto t = ParseTemplate("ok\n{{ 1 + }}", "app.conf.j2", {});
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(std::string(t.status().message()),
            "template error in app.conf.j2 at line 2, column 8: unexpected 'end of print statement'");
  auto missing = ParseTemplate("{% if x %}", "t", {});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("'elif' or 'else' or 'endif'"), std::string::npos);
}

TEST(ParserTest, UnsupportedTagsSaySo) {
  auto t = ParseTemplate("{% extends 'base.j2' %}", "t", {});
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("not supported"), std::string::npos);
}

TEST(ParserTest, DeepNestingIsAnErrorNotACrash) {
  std::string deep(10000, '(');
  EXPECT_FALSE(ParseExpression(deep, "t", {}).ok());
  std::string negs;
  for (int i = 0; i < 10000; ++i) negs += "not ";
  EXPECT_FALSE(ParseExpression(negs + "x", "t", {}).ok());
  std::string blocks;
  for (int i = 0; i < 5000; ++i) blocks += "{% if x %}";
  EXPECT_FALSE(ParseTemplate(blocks, "t", {}).ok());
}

}  // namespace
}  // namespace tachyon::tmpl
