#include "controller/template/parser.h"

#include <cstdlib>
#include <initializer_list>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status.h"

namespace tachyon::tmpl {
namespace {

const char* Describe(TokenType t) {
  switch (t) {
    case TokenType::kVariableEnd: return "end of print statement";
    case TokenType::kBlockEnd: return "end of statement block";
    case TokenType::kEof: return "end of template";
    case TokenType::kVariableBegin: return "begin of print statement";
    case TokenType::kBlockBegin: return "begin of statement block";
    default: return "token";
  }
}

std::string TokenText(const Token& t) {
  switch (t.type) {
    case TokenType::kName:
    case TokenType::kOperator:
    case TokenType::kInteger:
    case TokenType::kFloat:
      return t.value;
    case TokenType::kString:
      return "string";
    case TokenType::kData:
      return "template data";
    default:
      return Describe(t.type);
  }
}

class Parser {
 public:
  Parser(std::vector<Token> tokens, std::string_view name)
      : tokens_(std::move(tokens)), name_(name) {}

  absl::StatusOr<NodePtr> Template() {
    auto root = std::make_unique<Node>(NodeKind::kTemplate, 1, 1);
    ASSIGN_OR_RETURN(root->body, Subparse({}));
    if (Peek().type != TokenType::kEof) return Unexpected(Peek());
    return root;
  }

  absl::StatusOr<NodePtr> BareExpression(bool with_condexpr) {
    ASSIGN_OR_RETURN(NodePtr expr, Tuple(with_condexpr));
    if (Peek().type != TokenType::kEof) return Unexpected(Peek());
    return expr;
  }

 private:
  const Token& Peek(size_t ahead = 0) const {
    const size_t i = pos_ + ahead;
    return i < tokens_.size() ? tokens_[i] : tokens_.back();
  }
  const Token& Next() {
    const Token& t = Peek();
    if (pos_ < tokens_.size() - 1) ++pos_;
    return t;
  }
  bool IsOp(std::string_view op, size_t ahead = 0) const {
    const Token& t = Peek(ahead);
    return t.type == TokenType::kOperator && t.value == op;
  }
  bool IsName(std::string_view name, size_t ahead = 0) const {
    const Token& t = Peek(ahead);
    return t.type == TokenType::kName && t.value == name;
  }
  bool SkipOp(std::string_view op) {
    if (!IsOp(op)) return false;
    Next();
    return true;
  }
  bool SkipName(std::string_view name) {
    if (!IsName(name)) return false;
    Next();
    return true;
  }

  absl::Status ErrorAt(const Token& t, std::string_view message) const {
    return absl::InvalidArgumentError(absl::StrFormat(
        "template error in %s at line %d, column %d: %s", name_, t.line, t.column, message));
  }
  absl::Status Unexpected(const Token& t) const {
    if (t.type == TokenType::kEof) return ErrorAt(t, "unexpected end of template");
    return ErrorAt(t, absl::StrCat("unexpected '", TokenText(t), "'"));
  }
  absl::Status ExpectOp(std::string_view op) {
    if (SkipOp(op)) return absl::OkStatus();
    return ErrorAt(Peek(), absl::StrCat("expected token '", std::string(op), "', got '", TokenText(Peek()), "'"));
  }
  absl::Status Expect(TokenType type) {
    if (Peek().type == type) {
      Next();
      return absl::OkStatus();
    }
    return ErrorAt(Peek(), absl::StrCat("expected token '", Describe(type), "', got '",
                                        TokenText(Peek()), "'"));
  }
  absl::StatusOr<std::string> ExpectName() {
    if (Peek().type != TokenType::kName) {
      return ErrorAt(Peek(), absl::StrCat("expected name, got '", TokenText(Peek()), "'"));
    }
    return Next().value;
  }

  NodePtr Make(NodeKind kind, const Token& at) { return std::make_unique<Node>(kind, at.line, at.column); }

  // RAII depth guard: every recursive production goes through Enter().
  struct DepthGuard {
    int* depth;
    ~DepthGuard() { --*depth; }
  };
  absl::Status Enter() {
    if (++depth_ > kMaxParseDepth) {
      return ErrorAt(Peek(), "template is nested too deeply");
    }
    return absl::OkStatus();
  }

  // Parses statements until a block tag whose name is in `end_tags` (left unconsumed, after
  // the `{%`), or until the end of input when `end_tags` is empty.
  absl::StatusOr<std::vector<NodePtr>> Subparse(std::initializer_list<std::string_view> end_tags) {
    RETURN_IF_ERROR(Enter());
    DepthGuard guard{&depth_};
    std::vector<NodePtr> body;
    while (true) {
      const Token& t = Peek();
      if (t.type == TokenType::kEof) {
        if (end_tags.size() == 0) return body;
        std::string expected;
        for (auto tag : end_tags) absl::StrAppend(&expected, expected.empty() ? "" : " or ", "'", std::string(tag), "'");
        return ErrorAt(t, absl::StrCat("Unexpected end of template. Jinja was looking for the "
                                       "following tags: ", expected, "."));
      }
      if (t.type == TokenType::kData) {
        auto node = Make(NodeKind::kData, t);
        node->name = t.value;
        body.push_back(std::move(node));
        Next();
        continue;
      }
      if (t.type == TokenType::kVariableBegin) {
        auto node = Make(NodeKind::kOutput, t);
        Next();
        ASSIGN_OR_RETURN(NodePtr expr, Tuple());
        node->children.push_back(std::move(expr));
        RETURN_IF_ERROR(Expect(TokenType::kVariableEnd));
        body.push_back(std::move(node));
        continue;
      }
      if (t.type == TokenType::kBlockBegin) {
        const Token& tag = Peek(1);
        if (tag.type == TokenType::kName) {
          for (auto end : end_tags) {
            if (tag.value == end) {
              Next();  // `{%`; the caller consumes the tag name.
              return body;
            }
          }
        }
        Next();
        ASSIGN_OR_RETURN(NodePtr stmt, Statement());
        body.push_back(std::move(stmt));
        continue;
      }
      return Unexpected(t);
    }
  }

  absl::StatusOr<NodePtr> Statement() {
    const Token& t = Peek();
    if (t.type != TokenType::kName) return ErrorAt(t, "tag name expected");
    const std::string tag = t.value;
    if (tag == "if") return If();
    if (tag == "for") return For();
    if (tag == "set") return Set();
    if (tag == "macro") return Macro();
    if (tag == "include") return Include();
    if (tag == "call") return CallBlock();
    static constexpr std::string_view kKnownUnsupported[] = {
        "extends", "block", "import", "from", "filter", "with", "autoescape", "do",
        "break", "continue", "trans"};
    for (auto name : kKnownUnsupported) {
      if (tag == name) {
        return ErrorAt(t, absl::StrCat("the '", tag, "' tag is not supported by tachyon's template engine"));
      }
    }
    if (tag.rfind("end", 0) == 0 || tag == "else" || tag == "elif") {
      return ErrorAt(t, absl::StrCat("Encountered unknown tag '", tag, "'."));
    }
    return ErrorAt(t, absl::StrCat("Encountered unknown tag '", tag, "'."));
  }

  absl::StatusOr<NodePtr> If() {
    auto node = Make(NodeKind::kIf, Next());  // `if` or `elif`
    // Jinja parses the test without an inline if-expression: `{% if a if b else c %}` is an error.
    ASSIGN_OR_RETURN(NodePtr cond, Tuple(/*with_condexpr=*/false));
    node->children.push_back(std::move(cond));
    RETURN_IF_ERROR(Expect(TokenType::kBlockEnd));
    ASSIGN_OR_RETURN(node->body, Subparse({"elif", "else", "endif"}));
    if (IsName("elif")) {
      ASSIGN_OR_RETURN(NodePtr elif, If());
      node->else_body.push_back(std::move(elif));
      return node;
    }
    if (Next().value == "else") {
      RETURN_IF_ERROR(Expect(TokenType::kBlockEnd));
      ASSIGN_OR_RETURN(node->else_body, Subparse({"endif"}));
      Next();
    }
    RETURN_IF_ERROR(Expect(TokenType::kBlockEnd));
    return node;
  }

  absl::StatusOr<NodePtr> For() {
    auto node = Make(NodeKind::kFor, Next());
    const bool paren = SkipOp("(");
    do {
      ASSIGN_OR_RETURN(std::string target, ExpectName());
      node->targets.push_back(target);
    } while (SkipOp(","));
    if (paren) RETURN_IF_ERROR(ExpectOp(")"));
    if (!SkipName("in")) return ErrorAt(Peek(), "expected 'in'");
    ASSIGN_OR_RETURN(NodePtr iter, Tuple(/*with_condexpr=*/false));
    node->children.push_back(std::move(iter));
    node->children.push_back(nullptr);
    if (SkipName("if")) {
      ASSIGN_OR_RETURN(node->children[1], Expression());
    }
    node->negated = SkipName("recursive");
    RETURN_IF_ERROR(Expect(TokenType::kBlockEnd));
    ASSIGN_OR_RETURN(node->body, Subparse({"endfor", "else"}));
    if (Next().value == "else") {
      RETURN_IF_ERROR(Expect(TokenType::kBlockEnd));
      ASSIGN_OR_RETURN(node->else_body, Subparse({"endfor"}));
      Next();
    }
    RETURN_IF_ERROR(Expect(TokenType::kBlockEnd));
    return node;
  }

  absl::StatusOr<NodePtr> Set() {
    const Token& at = Next();
    ASSIGN_OR_RETURN(std::string first, ExpectName());
    if (SkipOp(".")) {
      auto node = Make(NodeKind::kNamespaceSet, at);
      node->name = first;
      ASSIGN_OR_RETURN(node->attr, ExpectName());
      RETURN_IF_ERROR(ExpectOp("="));
      ASSIGN_OR_RETURN(NodePtr value, Tuple());
      node->children.push_back(std::move(value));
      RETURN_IF_ERROR(Expect(TokenType::kBlockEnd));
      return node;
    }
    std::vector<std::string> targets{first};
    while (SkipOp(",")) {
      ASSIGN_OR_RETURN(std::string name, ExpectName());
      targets.push_back(name);
    }
    if (SkipOp("=")) {
      auto node = Make(NodeKind::kSet, at);
      node->targets = std::move(targets);
      ASSIGN_OR_RETURN(NodePtr value, Tuple());
      node->children.push_back(std::move(value));
      RETURN_IF_ERROR(Expect(TokenType::kBlockEnd));
      return node;
    }
    auto node = Make(NodeKind::kSetBlock, at);
    node->targets = std::move(targets);
    if (IsOp("|")) return ErrorAt(Peek(), "filters on block set are not supported by tachyon's template engine");
    RETURN_IF_ERROR(Expect(TokenType::kBlockEnd));
    ASSIGN_OR_RETURN(node->body, Subparse({"endset"}));
    Next();
    RETURN_IF_ERROR(Expect(TokenType::kBlockEnd));
    return node;
  }

  absl::Status MacroSignature(Node* node) {
    RETURN_IF_ERROR(ExpectOp("("));
    while (!SkipOp(")")) {
      if (!node->targets.empty()) RETURN_IF_ERROR(ExpectOp(","));
      if (SkipOp(")")) break;
      ASSIGN_OR_RETURN(std::string param, ExpectName());
      node->targets.push_back(param);
      if (SkipOp("=")) {
        ASSIGN_OR_RETURN(NodePtr def, Expression());
        node->children.push_back(std::move(def));
      } else {
        node->children.push_back(nullptr);
      }
    }
    return absl::OkStatus();
  }

  absl::StatusOr<NodePtr> Macro() {
    auto node = Make(NodeKind::kMacro, Next());
    ASSIGN_OR_RETURN(node->name, ExpectName());
    RETURN_IF_ERROR(MacroSignature(node.get()));
    RETURN_IF_ERROR(Expect(TokenType::kBlockEnd));
    ASSIGN_OR_RETURN(node->body, Subparse({"endmacro"}));
    Next();
    RETURN_IF_ERROR(Expect(TokenType::kBlockEnd));
    return node;
  }

  absl::StatusOr<NodePtr> CallBlock() {
    auto node = Make(NodeKind::kCallBlock, Next());
    if (IsOp("(")) RETURN_IF_ERROR(MacroSignature(node.get()));
    ASSIGN_OR_RETURN(NodePtr call, Expression());
    if (call->kind != NodeKind::kCall) return ErrorAt(Peek(), "expected call");
    // children[0] is the call; defaults for the caller's parameters follow it.
    node->children.insert(node->children.begin(), std::move(call));
    RETURN_IF_ERROR(Expect(TokenType::kBlockEnd));
    ASSIGN_OR_RETURN(node->body, Subparse({"endcall"}));
    Next();
    RETURN_IF_ERROR(Expect(TokenType::kBlockEnd));
    return node;
  }

  absl::StatusOr<NodePtr> Include() {
    auto node = Make(NodeKind::kInclude, Next());
    ASSIGN_OR_RETURN(NodePtr target, Expression());
    node->children.push_back(std::move(target));
    if (IsName("ignore") && IsName("missing", 1)) {
      Next();
      Next();
      node->negated = true;
    }
    if ((IsName("with") || IsName("without")) && IsName("context", 1)) {
      Next();
      Next();
    }
    RETURN_IF_ERROR(Expect(TokenType::kBlockEnd));
    return node;
  }

  // ---- Expressions -------------------------------------------------------------------------

  // A comma-separated list without parentheses is a tuple, as in `{{ 1, 2 }}`.
  absl::StatusOr<NodePtr> Tuple(bool with_condexpr = true) {
    const Token& at = Peek();
    ASSIGN_OR_RETURN(NodePtr first, with_condexpr ? Expression() : Or());
    if (!IsOp(",")) return first;
    auto tuple = Make(NodeKind::kTuple, at);
    tuple->children.push_back(std::move(first));
    while (SkipOp(",")) {
      if (Peek().type == TokenType::kVariableEnd || Peek().type == TokenType::kBlockEnd ||
          Peek().type == TokenType::kEof || IsOp(")")) {
        break;
      }
      ASSIGN_OR_RETURN(NodePtr item, with_condexpr ? Expression() : Or());
      tuple->children.push_back(std::move(item));
    }
    return tuple;
  }

  absl::StatusOr<NodePtr> Expression() {
    RETURN_IF_ERROR(Enter());
    DepthGuard guard{&depth_};
    ASSIGN_OR_RETURN(NodePtr expr, Or());
    while (IsName("if")) {
      auto cond = Make(NodeKind::kCondExpr, Next());
      ASSIGN_OR_RETURN(NodePtr test, Or());
      NodePtr otherwise;
      if (SkipName("else")) {
        ASSIGN_OR_RETURN(otherwise, Expression());
      }
      cond->children.push_back(std::move(test));
      cond->children.push_back(std::move(expr));
      cond->children.push_back(std::move(otherwise));
      expr = std::move(cond);
    }
    return expr;
  }

  absl::StatusOr<NodePtr> Or() {
    ASSIGN_OR_RETURN(NodePtr left, And());
    while (IsName("or")) {
      auto node = Make(NodeKind::kOr, Next());
      ASSIGN_OR_RETURN(NodePtr right, And());
      node->children.push_back(std::move(left));
      node->children.push_back(std::move(right));
      left = std::move(node);
    }
    return left;
  }

  absl::StatusOr<NodePtr> And() {
    ASSIGN_OR_RETURN(NodePtr left, Not());
    while (IsName("and")) {
      auto node = Make(NodeKind::kAnd, Next());
      ASSIGN_OR_RETURN(NodePtr right, Not());
      node->children.push_back(std::move(left));
      node->children.push_back(std::move(right));
      left = std::move(node);
    }
    return left;
  }

  absl::StatusOr<NodePtr> Not() {
    if (IsName("not")) {
      RETURN_IF_ERROR(Enter());
      DepthGuard guard{&depth_};
      auto node = Make(NodeKind::kNot, Next());
      ASSIGN_OR_RETURN(NodePtr operand, Not());
      node->children.push_back(std::move(operand));
      return node;
    }
    return Compare();
  }

  absl::StatusOr<NodePtr> Compare() {
    const Token& at = Peek();
    ASSIGN_OR_RETURN(NodePtr left, Math1());
    NodePtr cmp;
    while (true) {
      std::string op;
      if (Peek().type == TokenType::kOperator &&
          (Peek().value == "==" || Peek().value == "!=" || Peek().value == "<" ||
           Peek().value == ">" || Peek().value == "<=" || Peek().value == ">=")) {
        op = Next().value;
      } else if (SkipName("in")) {
        op = "in";
      } else if (IsName("not") && IsName("in", 1)) {
        Next();
        Next();
        op = "notin";
      } else {
        break;
      }
      if (!cmp) {
        cmp = Make(NodeKind::kCompare, at);
        cmp->children.push_back(std::move(left));
      }
      ASSIGN_OR_RETURN(NodePtr right, Math1());
      cmp->ops.push_back(op);
      cmp->children.push_back(std::move(right));
    }
    return cmp ? std::move(cmp) : std::move(left);
  }

  NodePtr Binary(const Token& at, std::string op, NodePtr left, NodePtr right) {
    auto node = Make(NodeKind::kBinary, at);
    node->name = std::move(op);
    node->children.push_back(std::move(left));
    node->children.push_back(std::move(right));
    return node;
  }

  absl::StatusOr<NodePtr> Math1() {
    ASSIGN_OR_RETURN(NodePtr left, Concat());
    while (IsOp("+") || IsOp("-")) {
      const Token& at = Next();
      ASSIGN_OR_RETURN(NodePtr right, Concat());
      left = Binary(at, at.value, std::move(left), std::move(right));
    }
    return left;
  }

  absl::StatusOr<NodePtr> Concat() {
    ASSIGN_OR_RETURN(NodePtr left, Math2());
    while (IsOp("~")) {
      const Token& at = Next();
      ASSIGN_OR_RETURN(NodePtr right, Math2());
      left = Binary(at, "~", std::move(left), std::move(right));
    }
    return left;
  }

  absl::StatusOr<NodePtr> Math2() {
    ASSIGN_OR_RETURN(NodePtr left, Pow());
    while (IsOp("*") || IsOp("/") || IsOp("//") || IsOp("%")) {
      const Token& at = Next();
      ASSIGN_OR_RETURN(NodePtr right, Pow());
      left = Binary(at, at.value, std::move(left), std::move(right));
    }
    return left;
  }

  absl::StatusOr<NodePtr> Pow() {
    ASSIGN_OR_RETURN(NodePtr left, Unary(true));
    while (IsOp("**")) {
      const Token& at = Next();
      ASSIGN_OR_RETURN(NodePtr right, Unary(true));
      left = Binary(at, "**", std::move(left), std::move(right));
    }
    return left;
  }

  absl::StatusOr<NodePtr> Unary(bool with_filter) {
    RETURN_IF_ERROR(Enter());
    DepthGuard guard{&depth_};
    NodePtr node;
    if (IsOp("-") || IsOp("+")) {
      const Token& at = Next();
      node = Make(at.value == "-" ? NodeKind::kNeg : NodeKind::kPos, at);
      ASSIGN_OR_RETURN(NodePtr operand, Unary(false));
      node->children.push_back(std::move(operand));
    } else {
      ASSIGN_OR_RETURN(node, Primary());
    }
    ASSIGN_OR_RETURN(node, Postfix(std::move(node)));
    if (with_filter) {
      ASSIGN_OR_RETURN(node, FilterExpr(std::move(node)));
    }
    return node;
  }

  absl::StatusOr<NodePtr> Primary() {
    const Token& t = Peek();
    switch (t.type) {
      case TokenType::kName: {
        Next();
        auto node = Make(NodeKind::kConst, t);
        if (t.value == "true" || t.value == "True") {
          node->literal = true;
        } else if (t.value == "false" || t.value == "False") {
          node->literal = false;
        } else if (t.value == "none" || t.value == "None") {
          node->literal = nullptr;
        } else {
          node->kind = NodeKind::kName;
          node->name = t.value;
        }
        return node;
      }
      case TokenType::kString: {
        auto node = Make(NodeKind::kConst, t);
        std::string value;
        while (Peek().type == TokenType::kString) value += Next().value;  // 'a' 'b' == 'ab'
        node->literal = value;
        return node;
      }
      case TokenType::kInteger: {
        Next();
        auto node = Make(NodeKind::kConst, t);
        errno = 0;
        const long long v = std::strtoll(t.value.c_str(), nullptr, 10);
        if (errno == ERANGE) return ErrorAt(t, "integer literal too large");
        node->literal = static_cast<int64_t>(v);
        return node;
      }
      case TokenType::kFloat: {
        Next();
        auto node = Make(NodeKind::kConst, t);
        node->literal = std::strtod(t.value.c_str(), nullptr);
        return node;
      }
      case TokenType::kOperator:
        if (t.value == "(") {
          Next();
          if (SkipOp(")")) return Make(NodeKind::kTuple, t);
          ASSIGN_OR_RETURN(NodePtr first, Expression());
          if (SkipOp(")")) return first;
          auto tuple = Make(NodeKind::kTuple, t);
          tuple->children.push_back(std::move(first));
          while (SkipOp(",")) {
            if (IsOp(")")) break;
            ASSIGN_OR_RETURN(NodePtr item, Expression());
            tuple->children.push_back(std::move(item));
          }
          RETURN_IF_ERROR(ExpectOp(")"));
          return tuple;
        }
        if (t.value == "[") {
          Next();
          auto list = Make(NodeKind::kList, t);
          while (!SkipOp("]")) {
            if (!list->children.empty()) RETURN_IF_ERROR(ExpectOp(","));
            if (SkipOp("]")) break;
            ASSIGN_OR_RETURN(NodePtr item, Expression());
            list->children.push_back(std::move(item));
          }
          return list;
        }
        if (t.value == "{") {
          Next();
          auto dict = Make(NodeKind::kDict, t);
          while (!SkipOp("}")) {
            if (!dict->children.empty()) RETURN_IF_ERROR(ExpectOp(","));
            if (SkipOp("}")) break;
            ASSIGN_OR_RETURN(NodePtr key, Expression());
            RETURN_IF_ERROR(ExpectOp(":"));
            ASSIGN_OR_RETURN(NodePtr value, Expression());
            dict->children.push_back(std::move(key));
            dict->children.push_back(std::move(value));
          }
          return dict;
        }
        return Unexpected(t);
      default:
        return Unexpected(t);
    }
  }

  absl::Status CallArguments(Node* node) {
    // The '(' has been consumed.
    while (!SkipOp(")")) {
      if (node->children.size() > 1) RETURN_IF_ERROR(ExpectOp(","));
      if (SkipOp(")")) break;
      if (IsOp("*") || IsOp("**")) {
        return ErrorAt(Peek(), "*args and **kwargs in calls are not supported by tachyon's template engine");
      }
      std::string keyword;
      if (Peek().type == TokenType::kName && IsOp("=", 1)) {
        keyword = Next().value;
        Next();
      } else {
        for (const auto& n : node->arg_names) {
          if (!n.empty()) return ErrorAt(Peek(), "positional argument follows keyword argument");
        }
      }
      ASSIGN_OR_RETURN(NodePtr arg, Expression());
      node->children.push_back(std::move(arg));
      node->arg_names.push_back(keyword);
    }
    return absl::OkStatus();
  }

  absl::StatusOr<NodePtr> Postfix(NodePtr node) {
    while (true) {
      if (IsOp(".")) {
        const Token& at = Next();
        const Token& t = Peek();
        if (t.type == TokenType::kName) {
          Next();
          auto get = Make(NodeKind::kGetAttr, at);
          get->name = t.value;
          get->children.push_back(std::move(node));
          node = std::move(get);
        } else if (t.type == TokenType::kInteger) {
          Next();
          auto get = Make(NodeKind::kGetItem, at);
          auto index = Make(NodeKind::kConst, t);
          index->literal = static_cast<int64_t>(std::strtoll(t.value.c_str(), nullptr, 10));
          get->children.push_back(std::move(node));
          get->children.push_back(std::move(index));
          node = std::move(get);
        } else {
          return ErrorAt(t, "expected name or number");
        }
      } else if (IsOp("[")) {
        ASSIGN_OR_RETURN(node, Subscript(std::move(node)));
      } else if (IsOp("(")) {
        ASSIGN_OR_RETURN(node, Call(std::move(node)));
      } else {
        return node;
      }
    }
  }

  absl::StatusOr<NodePtr> Call(NodePtr callee) {
    auto call = Make(NodeKind::kCall, Next());
    call->children.push_back(std::move(callee));
    RETURN_IF_ERROR(CallArguments(call.get()));
    return call;
  }

  absl::StatusOr<NodePtr> Subscript(NodePtr node) {
    const Token& at = Next();  // '['
    NodePtr parts[3];
    int colons = 0;
    for (int i = 0; i < 3; ++i) {
      if (!IsOp(":") && !IsOp("]")) {
        ASSIGN_OR_RETURN(parts[i], Expression());
      }
      if (i < 2 && SkipOp(":")) {
        ++colons;
        continue;
      }
      break;
    }
    RETURN_IF_ERROR(ExpectOp("]"));
    if (colons == 0) {
      if (!parts[0]) return ErrorAt(at, "expected subscript expression");
      auto get = Make(NodeKind::kGetItem, at);
      get->children.push_back(std::move(node));
      get->children.push_back(std::move(parts[0]));
      return get;
    }
    auto slice = Make(NodeKind::kSlice, at);
    slice->children.push_back(std::move(node));
    for (auto& part : parts) slice->children.push_back(std::move(part));
    return slice;
  }

  absl::StatusOr<NodePtr> FilterExpr(NodePtr node) {
    while (true) {
      if (IsOp("|")) {
        const Token& at = Next();
        auto filter = Make(NodeKind::kFilter, at);
        ASSIGN_OR_RETURN(filter->name, DottedName());
        filter->children.push_back(std::move(node));
        if (SkipOp("(")) RETURN_IF_ERROR(CallArguments(filter.get()));
        node = std::move(filter);
      } else if (IsName("is")) {
        const Token& at = Next();
        auto test = Make(NodeKind::kTest, at);
        test->negated = SkipName("not");
        ASSIGN_OR_RETURN(test->name, DottedName());
        test->children.push_back(std::move(node));
        const Token& t = Peek();
        if (SkipOp("(")) {
          RETURN_IF_ERROR(CallArguments(test.get()));
        } else if ((t.type == TokenType::kName || t.type == TokenType::kString ||
                    t.type == TokenType::kInteger || t.type == TokenType::kFloat ||
                    (t.type == TokenType::kOperator && (t.value == "[" || t.value == "{"))) &&
                   !(t.type == TokenType::kName &&
                     (t.value == "else" || t.value == "or" || t.value == "and"))) {
          // `x is divisibleby 3`: one argument without parentheses.
          if (t.type == TokenType::kName && t.value == "is") return Unexpected(t);
          ASSIGN_OR_RETURN(NodePtr arg, Primary());
          ASSIGN_OR_RETURN(arg, Postfix(std::move(arg)));
          test->children.push_back(std::move(arg));
          test->arg_names.push_back("");
        }
        node = std::move(test);
      } else if (IsOp("(")) {
        ASSIGN_OR_RETURN(node, Call(std::move(node)));
      } else {
        return node;
      }
    }
  }

  // Filter and test names may be collection-qualified: `ansible.builtin.to_json`.
  absl::StatusOr<std::string> DottedName() {
    ASSIGN_OR_RETURN(std::string name, ExpectName());
    while (IsOp(".") && Peek(1).type == TokenType::kName) {
      Next();
      absl::StrAppend(&name, ".", Next().value);
    }
    return name;
  }

  std::vector<Token> tokens_;
  std::string_view name_;
  size_t pos_ = 0;
  int depth_ = 0;
};

}  // namespace

absl::StatusOr<NodePtr> ParseTemplate(std::string_view source, std::string_view name,
                                      const LexerOptions& options) {
  ASSIGN_OR_RETURN(std::vector<Token> tokens, Tokenize(source, name, options));
  return Parser(std::move(tokens), name).Template();
}

absl::StatusOr<NodePtr> ParseExpression(std::string_view source, std::string_view name,
                                        const LexerOptions& options, bool with_condexpr) {
  // Lex the expression as the inside of a {{ }} tag, then drop the delimiters.
  const std::string wrapped = absl::StrCat("{{ ", std::string(source), " }}");
  ASSIGN_OR_RETURN(std::vector<Token> tokens, Tokenize(wrapped, name, options));
  if (tokens.size() < 3 || tokens.front().type != TokenType::kVariableBegin ||
      tokens[tokens.size() - 2].type != TokenType::kVariableEnd) {
    return absl::InvalidArgumentError(
        absl::StrFormat("template error in %s at line 1, column 1: invalid expression", name));
  }
  tokens.erase(tokens.end() - 2);
  tokens.erase(tokens.begin());
  for (auto& t : tokens) {
    if (t.line == 1) t.column = std::max(1, t.column - 3);
  }
  return Parser(std::move(tokens), name).BareExpression(with_condexpr);
}

}  // namespace tachyon::tmpl
