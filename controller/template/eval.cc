#include "controller/template/eval.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace tachyon::tmpl {
namespace {

// Jinja's object_type_repr(): "None" for None, "<type> object" otherwise.
std::string ObjectTypeRepr(const Json& j) {
  if (j.is_null()) return "None";
  return PythonTypeName(j) + " object";
}

bool HasTemplateString(const Json& j) {
  if (j.is_string()) return IsPossiblyTemplate(j.get_ref<const std::string&>());
  if (j.is_array() || j.is_object()) {
    for (const auto& item : j) {
      if (HasTemplateString(item)) return true;
    }
  }
  return false;
}

// The dict methods that shadow keys of the same name, as Python's getattr() finds them first.
bool IsDictMethod(std::string_view name) {
  static constexpr std::string_view kMethods[] = {"keys", "values", "items", "get", "copy",
                                                 "update", "pop", "setdefault", "clear",
                                                 "popitem", "fromkeys"};
  return std::find(std::begin(kMethods), std::end(kMethods), name) != std::end(kMethods);
}

}  // namespace

absl::Status Evaluator::CheckSize(size_t bytes) const {
  if (bytes > ctx_.limits.max_output_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "template output exceeds the limit of ", ctx_.limits.max_output_bytes, " bytes"));
  }
  return absl::OkStatus();
}

absl::Status Evaluator::EnterCall() {
  if (++call_depth_ > ctx_.limits.max_call_depth) {
    --call_depth_;
    return absl::ResourceExhaustedError(
        absl::StrCat("template recursion is deeper than ", ctx_.limits.max_call_depth, " calls"));
  }
  return absl::OkStatus();
}

absl::Status Evaluator::Append(std::string* out, std::string_view text) const {
  RETURN_IF_ERROR(CheckSize(out->size() + text.size()));
  out->append(text);
  return absl::OkStatus();
}

absl::StatusOr<std::string> Evaluator::OutputText(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined:
      if (v.is_lenient()) return std::string();
      return UndefinedError(v.message());
    case Value::Kind::kCallable:
      return absl::StrCat("<function ", v.message(), ">");
    case Value::Kind::kNamespace:
      return std::string("<Namespace>");
    case Value::Kind::kJson:
      break;
  }
  if (v.json().is_null() && options_.ansible) return std::string();
  return ShapedToText(v.json(), v.shape());
}

absl::StatusOr<bool> Evaluator::IsTrue(const Value& v) {
  if (v.is_undefined()) {
    if (v.is_lenient()) return false;
    return UndefinedError(v.message());
  }
  if (!v.is_json()) return true;
  return Truthy(v.json());
}

Value Evaluator::ConcatResult(std::string text) const {
  if (options_.ansible && options_.convert_data &&
      (text.rfind("{", 0) == 0 || text.rfind("[", 0) == 0 || text == "True" || text == "False")) {
    auto literal = LiteralEval(text);
    if (literal.ok()) return Value(std::move(*literal));
  }
  return Value(Json(std::move(text)));
}

absl::StatusOr<Value> Evaluator::Lookup(const std::string& name) {
  for (auto it = frames_.rbegin(); it != frames_.rend(); ++it) {
    auto found = it->find(name);
    if (found != it->end()) return found->second;
  }
  if (auto cached = var_cache_.find(name); cached != var_cache_.end()) return cached->second;
  std::optional<Json> value;
  if (ctx_.ordered_vars != nullptr && ctx_.ordered_vars->is_object()) {
    auto it = ctx_.ordered_vars->find(name);
    if (it != ctx_.ordered_vars->end()) {
      if (!(ctx_.template_variable_values && HasTemplateString(*it))) {
        // The common case: no copy at all, the caller's variables outlive this evaluation.
        Value v = Value::Borrowed(*it);
        var_cache_.emplace(name, v);
        return v;
      }
      value = *it;
    }
  }
  if (!value && ctx_.vars != nullptr && ctx_.vars->is_object()) {
    auto it = ctx_.vars->find(name);
    if (it != ctx_.vars->end()) value = ToOrdered(*it);
  }
  if (!value && ctx_.resolve) {
    if (auto resolved = ctx_.resolve(name)) value = ToOrdered(*resolved);
  }
  if (value) {
    if (ctx_.template_variable_values && HasTemplateString(*value)) {
      // Ansible renders a variable's own templates when it is used. That render is a new
      // Evaluator, so the nesting depth is counted per thread: `a: "{{ a }}"` must end.
      static thread_local int variable_depth = 0;
      if (variable_depth >= ctx_.limits.max_call_depth) {
        return absl::ResourceExhaustedError(
            absl::StrCat("recursive loop detected in template string: ", Repr(Json(name))));
      }
      ++variable_depth;
      auto rendered = RenderDeep(ToPlain(*value), ctx_);
      --variable_depth;
      if (!rendered.ok()) return rendered.status();
      value = ToOrdered(*rendered);
    }
    Value v(std::move(*value));
    var_cache_.emplace(name, v);
    return v;
  }
  if (auto global = Global(*this, name)) return *global;
  return Value::Undefined(absl::StrCat(Repr(Json(name)), " is undefined"));
}

absl::StatusOr<Value> Evaluator::GetAttr(const Value& obj, const std::string& name) {
  if (obj.is_undefined()) return obj;
  if (obj.is_namespace()) {
    auto it = obj.namespace_attrs().find(name);
    if (it != obj.namespace_attrs().end()) return Value(Json(*it));
    return Value::Undefined(absl::StrCat("'Namespace object' has no attribute ", Repr(Json(name))));
  }
  if (!obj.is_json()) {
    return Value::Undefined(absl::StrCat("'function object' has no attribute ", Repr(Json(name))));
  }
  const Json& j = obj.json();
  if (obj.shape() == Value::Shape::kTuple && j.size() == 2 && (name == "grouper" || name == "list")) {
    // groupby() yields (grouper, list) named tuples.
    return Value::Part(obj, j[name == "grouper" ? 0 : 1]);
  }
  if (j.is_object()) {
    if (name == "cycle" && j.contains("index0") && j.contains("revindex0") && j.contains("depth0")) {
      // loop.cycle(...): picks by the loop's position.
      const int64_t index0 = j["index0"].get<int64_t>();
      return Value::Callable("cycle", [index0](CallArgs& args) -> absl::StatusOr<Value> {
        if (args.values.empty()) return absl::InvalidArgumentError("no items for cycling given");
        return args.values[static_cast<size_t>(index0) % args.values.size()];
      });
    }
    if (!IsDictMethod(name)) {
      auto it = j.find(name);
      if (it != j.end()) return Value::Part(obj, *it);
    }
  }
  if (auto method = BindMethod(j, name)) return *method;
  if (j.is_object()) {
    auto it = j.find(name);
    if (it != j.end()) return Value::Part(obj, *it);
  }
  return Value::Undefined(absl::StrCat(Repr(Json(ObjectTypeRepr(j))), " has no attribute ",
                                       Repr(Json(name))));
}

absl::StatusOr<Value> Evaluator::GetItem(const Value& obj, const Value& key) {
  if (obj.is_undefined()) return obj;
  if (key.is_undefined()) return UndefinedError(key.message());
  if (obj.is_namespace() && key.json().is_string()) return GetAttr(obj, key.json().get<std::string>());
  if (!obj.is_json() || !key.is_json()) {
    return absl::InvalidArgumentError("object is not subscriptable");
  }
  const Json& j = obj.json();
  const Json& k = key.json();
  if (j.is_object()) {
    if (k.is_string()) {
      auto it = j.find(k.get<std::string>());
      if (it != j.end()) return Value::Part(obj, *it);
      if (auto method = BindMethod(j, k.get<std::string>())) return *method;
    }
  } else if ((j.is_array() || j.is_string()) && IsIntLike(k)) {
    int64_t i = AsInt(k);
    if (j.is_array()) {
      const int64_t n = static_cast<int64_t>(j.size());
      if (i < 0) i += n;
      if (i >= 0 && i < n) {
        return Value::Part(obj, j[static_cast<size_t>(i)])
            .WithShape(obj.shape() == Value::Shape::kTupleList ? Value::Shape::kTuple
                                                                : Value::Shape::kPlain);
      }
    } else {
      const std::u32string s = DecodeUtf8(j.get_ref<const std::string&>());
      const int64_t n = static_cast<int64_t>(s.size());
      if (i < 0) i += n;
      if (i >= 0 && i < n) return Value(Json(EncodeUtf8(s.substr(static_cast<size_t>(i), 1))));
    }
  } else if (k.is_string()) {
    return GetAttr(obj, k.get<std::string>());
  }
  if (k.is_string()) {
    return Value::Undefined(absl::StrCat(Repr(Json(ObjectTypeRepr(j))), " has no attribute ",
                                         Repr(k)));
  }
  return Value::Undefined(absl::StrCat(ObjectTypeRepr(j), " has no element ", Repr(k)));
}

absl::StatusOr<Value> Evaluator::CallValue(const Value& callee, CallArgs& args) {
  if (callee.is_undefined()) return UndefinedError(callee.message());
  if (!callee.is_callable()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", callee.is_json() ? PythonTypeName(callee.json()) : "object", "' object is not callable"));
  }
  return callee.function()(args);
}

absl::StatusOr<CallArgs> Evaluator::EvalArgs(const Node& node, size_t first) {
  CallArgs args;
  for (size_t i = first; i < node.children.size(); ++i) {
    ASSIGN_OR_RETURN(Value v, Eval(*node.children[i]));
    args.values.push_back(std::move(v));
    args.names.push_back(node.arg_names[i - first]);
  }
  return args;
}

absl::StatusOr<Value> Evaluator::EvalCompare(const Node& node) {
  ASSIGN_OR_RETURN(Value left, Eval(*node.children[0]));
  for (size_t i = 0; i < node.ops.size(); ++i) {
    ASSIGN_OR_RETURN(Value right, Eval(*node.children[i + 1]));
    if (left.is_undefined()) return UndefinedError(left.message());
    if (right.is_undefined()) return UndefinedError(right.message());
    const std::string& op = node.ops[i];
    bool result = false;
    if (!left.is_json() || !right.is_json()) {
      result = (op == "!=");
    } else if (op == "==" || op == "!=") {
      result = Equals(left.json(), right.json()) == (op == "==");
    } else if (op == "in" || op == "notin") {
      ASSIGN_OR_RETURN(bool in, Contains(right.json(), left.json()));
      result = in == (op == "in");
    } else {
      ASSIGN_OR_RETURN(int c, Compare(left.json(), right.json(), op));
      result = op == "<" ? c < 0 : op == ">" ? c > 0 : op == "<=" ? c <= 0 : c >= 0;
    }
    if (!result) return Value(Json(false));
    left = std::move(right);
  }
  return Value(Json(true));
}

absl::StatusOr<Value> Evaluator::EvalCall(const Node& node) {
  ASSIGN_OR_RETURN(Value callee, Eval(*node.children[0]));
  ASSIGN_OR_RETURN(CallArgs args, EvalArgs(node, 1));
  return CallValue(callee, args);
}

absl::StatusOr<Value> Evaluator::Eval(const Node& node) {
  switch (node.kind) {
    case NodeKind::kConst:
      return Value(node.literal);
    case NodeKind::kName:
      return Lookup(node.name);
    case NodeKind::kList:
    case NodeKind::kTuple: {
      Json list = Json::array();
      bool all_tuples = !node.children.empty();
      for (const auto& child : node.children) {
        ASSIGN_OR_RETURN(Value v, Eval(*child));
        ASSIGN_OR_RETURN(Json j, RequireJson(v));
        all_tuples &= v.shape() == Value::Shape::kTuple;
        list.push_back(std::move(j));
      }
      if (node.kind == NodeKind::kTuple) return Value::Shaped(std::move(list), Value::Shape::kTuple);
      return Value::Shaped(std::move(list), all_tuples ? Value::Shape::kTupleList : Value::Shape::kPlain);
    }
    case NodeKind::kDict: {
      Json dict = Json::object();
      for (size_t i = 0; i + 1 < node.children.size(); i += 2) {
        ASSIGN_OR_RETURN(Value k, Eval(*node.children[i]));
        ASSIGN_OR_RETURN(Json key, RequireJson(k));
        ASSIGN_OR_RETURN(Value v, Eval(*node.children[i + 1]));
        ASSIGN_OR_RETURN(Json value, RequireJson(v));
        if (key.is_array() || key.is_object()) {
          return absl::InvalidArgumentError(
              absl::StrCat("unhashable type: '", PythonTypeName(key), "'"));
        }
        dict[key.is_string() ? key.get<std::string>() : ToText(key)] = std::move(value);
      }
      return Value(std::move(dict));
    }
    case NodeKind::kGetAttr: {
      ASSIGN_OR_RETURN(Value obj, Eval(*node.children[0]));
      return GetAttr(obj, node.name);
    }
    case NodeKind::kGetItem: {
      ASSIGN_OR_RETURN(Value obj, Eval(*node.children[0]));
      ASSIGN_OR_RETURN(Value key, Eval(*node.children[1]));
      return GetItem(obj, key);
    }
    case NodeKind::kSlice: {
      ASSIGN_OR_RETURN(Value obj, Eval(*node.children[0]));
      Json parts[3];
      for (int i = 0; i < 3; ++i) {
        if (!node.children[i + 1]) continue;
        ASSIGN_OR_RETURN(Value v, Eval(*node.children[i + 1]));
        ASSIGN_OR_RETURN(parts[i], RequireJson(v));
      }
      if (obj.is_undefined()) return obj;
      ASSIGN_OR_RETURN(Json j, RequireJson(obj));
      ASSIGN_OR_RETURN(Json sliced, Slice(j, parts[0], parts[1], parts[2]));
      return Value::Shaped(std::move(sliced), obj.shape());
    }
    case NodeKind::kCall:
      return EvalCall(node);
    case NodeKind::kFilter: {
      ASSIGN_OR_RETURN(Value input, Eval(*node.children[0]));
      ASSIGN_OR_RETURN(CallArgs args, EvalArgs(node, 1));
      return ApplyFilter(*this, node.name, input, args);
    }
    case NodeKind::kTest: {
      ASSIGN_OR_RETURN(Value input, Eval(*node.children[0]));
      ASSIGN_OR_RETURN(CallArgs args, EvalArgs(node, 1));
      ASSIGN_OR_RETURN(Value result, ApplyTest(*this, node.name, input, args));
      if (!node.negated) return result;
      ASSIGN_OR_RETURN(bool t, IsTrue(result));
      return Value(Json(!t));
    }
    case NodeKind::kNeg:
    case NodeKind::kPos: {
      ASSIGN_OR_RETURN(Value v, Eval(*node.children[0]));
      ASSIGN_OR_RETURN(Json j, RequireJson(v));
      if (node.kind == NodeKind::kPos) {
        if (!IsNumber(j)) {
          return absl::InvalidArgumentError(
              absl::StrCat("bad operand type for unary +: '", PythonTypeName(j), "'"));
        }
        return Value(j.is_boolean() ? Json(AsInt(j)) : j);
      }
      ASSIGN_OR_RETURN(Json r, Negate(j));
      return Value(std::move(r));
    }
    case NodeKind::kNot: {
      ASSIGN_OR_RETURN(Value v, Eval(*node.children[0]));
      ASSIGN_OR_RETURN(bool t, IsTrue(v));
      return Value(Json(!t));
    }
    case NodeKind::kBinary: {
      ASSIGN_OR_RETURN(Value l, Eval(*node.children[0]));
      ASSIGN_OR_RETURN(Value r, Eval(*node.children[1]));
      if (node.name == "~") {
        ASSIGN_OR_RETURN(std::string a, OutputText(l));
        ASSIGN_OR_RETURN(std::string b, OutputText(r));
        // Jinja's ~ uses str(), so None is "None" even in Ansible.
        if (l.is_undefined() && !l.is_lenient()) return UndefinedError(l.message());
        if (r.is_undefined() && !r.is_lenient()) return UndefinedError(r.message());
        if (l.is_json() && l.json().is_null()) a = "None";
        if (r.is_json() && r.json().is_null()) b = "None";
        RETURN_IF_ERROR(CheckSize(a.size() + b.size()));
        return Value(Json(a + b));
      }
      ASSIGN_OR_RETURN(Json a, RequireJson(l));
      ASSIGN_OR_RETURN(Json b, RequireJson(r));
      if (node.name == "%" && a.is_string() && b.is_array() && r.shape() != Value::Shape::kTuple) {
        b = Json::array({b});  // Only a tuple spreads into several %-arguments.
      }
      ASSIGN_OR_RETURN(Json result, BinaryOp(node.name, a, b, ctx_.limits.max_output_bytes));
      return Value(std::move(result));
    }
    case NodeKind::kAnd:
    case NodeKind::kOr: {
      ASSIGN_OR_RETURN(Value l, Eval(*node.children[0]));
      ASSIGN_OR_RETURN(bool t, IsTrue(l));
      if (t == (node.kind == NodeKind::kOr)) return l;
      return Eval(*node.children[1]);
    }
    case NodeKind::kCompare:
      return EvalCompare(node);
    case NodeKind::kCondExpr: {
      ASSIGN_OR_RETURN(Value test, Eval(*node.children[0]));
      ASSIGN_OR_RETURN(bool t, IsTrue(test));
      if (t) return Eval(*node.children[1]);
      if (node.children[2]) return Eval(*node.children[2]);
      return Value::LenientUndefined(absl::StrCat("the inline if-expression on line ", node.line,
                                           " evaluated to false and no else section was defined."));
    }
    default:
      return absl::InternalError("statement evaluated as an expression");
  }
}

absl::Status Evaluator::Assign(const std::vector<std::string>& targets, const Value& value) {
  if (targets.size() == 1) {
    frames_.back()[targets[0]] = value;
    return absl::OkStatus();
  }
  if (value.is_undefined()) return UndefinedError(value.message());
  if (!value.is_json() || !(value.json().is_array() || value.json().is_string() || value.json().is_object())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot unpack non-iterable ", value.is_json() ? PythonTypeName(value.json()) : "function",
        " object"));
  }
  Json items = value.json();
  if (items.is_object()) {
    Json keys = Json::array();
    for (const auto& [k, v] : items.items()) keys.push_back(k);
    items = std::move(keys);
  } else if (items.is_string()) {
    Json chars = Json::array();
    for (char32_t c : DecodeUtf8(items.get<std::string>())) chars.push_back(EncodeUtf8(std::u32string(1, c)));
    items = std::move(chars);
  }
  if (items.size() > targets.size()) {
    return absl::InvalidArgumentError(absl::StrCat("too many values to unpack (expected ", targets.size(), ")"));
  }
  if (items.size() < targets.size()) {
    return absl::InvalidArgumentError(absl::StrCat("not enough values to unpack (expected ",
                                                   targets.size(), ", got ", items.size(), ")"));
  }
  for (size_t i = 0; i < targets.size(); ++i) frames_.back()[targets[i]] = Value(items[i]);
  return absl::OkStatus();
}

absl::StatusOr<Value> Evaluator::CallMacro(const Node& macro, CallArgs& args, const Value* caller) {
  RETURN_IF_ERROR(EnterCall());
  struct Leave {
    Evaluator* ev;
    std::vector<Frame> saved;
    ~Leave() {
      ev->frames_ = std::move(saved);
      ev->LeaveCall();
    }
  } leave{this, frames_};
  // A macro sees the template's top-level names and its own arguments, not the caller's locals.
  frames_.resize(1);
  frames_.emplace_back();
  Json varargs = Json::array();
  Json kwargs = Json::object();
  std::vector<bool> bound(macro.targets.size(), false);
  size_t positional = 0;
  for (size_t i = 0; i < args.values.size(); ++i) {
    if (args.names[i].empty()) {
      if (positional < macro.targets.size()) {
        frames_.back()[macro.targets[positional]] = args.values[i];
        bound[positional] = true;
      } else {
        ASSIGN_OR_RETURN(Json extra, RequireJson(args.values[i]));
        varargs.push_back(std::move(extra));
      }
      ++positional;
      continue;
    }
    if (args.names[i] == "caller") {
      frames_.back()["caller"] = args.values[i];
      continue;
    }
    auto it = std::find(macro.targets.begin(), macro.targets.end(), args.names[i]);
    if (it != macro.targets.end()) {
      frames_.back()[*it] = args.values[i];
      bound[static_cast<size_t>(it - macro.targets.begin())] = true;
    } else {
      ASSIGN_OR_RETURN(Json extra, RequireJson(args.values[i]));
      kwargs[args.names[i]] = std::move(extra);
    }
  }
  for (size_t i = 0; i < macro.targets.size(); ++i) {
    if (bound[i]) continue;
    if (macro.children[i]) {
      ASSIGN_OR_RETURN(Value def, Eval(*macro.children[i]));
      frames_.back()[macro.targets[i]] = def;
    } else {
      frames_.back()[macro.targets[i]] = Value::Undefined(
          absl::StrCat("parameter ", Repr(Json(macro.targets[i])), " was not provided"));
    }
  }
  frames_.back()["varargs"] = Value::Shaped(varargs, Value::Shape::kTuple);
  frames_.back()["kwargs"] = Value(kwargs);
  if (caller != nullptr) frames_.back()["caller"] = *caller;
  std::string out;
  RETURN_IF_ERROR(Render(macro.body, &out));
  return ConcatResult(std::move(out));
}

absl::StatusOr<Value> Evaluator::MakeMacro(const Node& node) {
  const Node* macro = &node;
  return Value::Callable(node.name, [this, macro](CallArgs& args) { return CallMacro(*macro, args, nullptr); });
}

absl::Status Evaluator::RenderRoot(const std::vector<NodePtr>& body, std::string* out) {
  root_out_ = out;
  root_pieces_ = 0;
  root_native_ = false;
  return Render(body, out);
}

absl::Status Evaluator::Render(const std::vector<NodePtr>& body, std::string* out) {
  for (const auto& node : body) RETURN_IF_ERROR(RenderNode(*node, out));
  return absl::OkStatus();
}

absl::Status Evaluator::RenderFor(const Node& node, std::string* out) {
  ASSIGN_OR_RETURN(Value iterable, Eval(*node.children[0]));
  if (iterable.is_undefined()) return UndefinedError(iterable.message());
  if (node.negated) {
    return absl::UnimplementedError("recursive for loops are not supported by tachyon's template engine");
  }
  if (!iterable.is_json()) return absl::InvalidArgumentError("'function' object is not iterable");
  const Json& j = iterable.json();
  Json items = Json::array();
  if (j.is_array()) {
    items = j;
  } else if (j.is_object()) {
    for (const auto& [k, v] : j.items()) items.push_back(k);
  } else if (j.is_string()) {
    for (char32_t c : DecodeUtf8(j.get<std::string>())) items.push_back(EncodeUtf8(std::u32string(1, c)));
  } else {
    return absl::InvalidArgumentError(absl::StrCat("'", PythonTypeName(j), "' object is not iterable"));
  }
  frames_.emplace_back();
  struct Pop {
    std::vector<Frame>* frames;
    ~Pop() { frames->pop_back(); }
  } pop{&frames_};
  if (node.children[1]) {
    // `for x in xs if cond`: filter first, so loop.length counts what is iterated.
    Json kept = Json::array();
    for (const auto& item : items) {
      RETURN_IF_ERROR(Assign(node.targets, Value(item)));
      ASSIGN_OR_RETURN(Value keep, Eval(*node.children[1]));
      ASSIGN_OR_RETURN(bool t, IsTrue(keep));
      if (t) kept.push_back(item);
    }
    items = std::move(kept);
  }
  const int64_t length = static_cast<int64_t>(items.size());
  for (int64_t i = 0; i < length; ++i) {
    if (++loop_iterations_ > ctx_.limits.max_loop_iterations) {
      return absl::ResourceExhaustedError("template loops ran more iterations than allowed");
    }
    frames_.back() = Frame{};
    RETURN_IF_ERROR(Assign(node.targets,
                           Value::Shaped(items[static_cast<size_t>(i)],
                                         iterable.shape() == Value::Shape::kTupleList
                                             ? Value::Shape::kTuple
                                             : Value::Shape::kPlain)));
    Json loop = {{"index", i + 1},          {"index0", i},       {"revindex", length - i},
                 {"revindex0", length - i - 1}, {"first", i == 0}, {"last", i == length - 1},
                 {"length", length},        {"depth", 1},        {"depth0", 0}};
    if (i > 0) loop["previtem"] = items[static_cast<size_t>(i - 1)];
    if (i + 1 < length) loop["nextitem"] = items[static_cast<size_t>(i + 1)];
    frames_.back()["loop"] = Value(std::move(loop));
    RETURN_IF_ERROR(Render(node.body, out));
  }
  if (length == 0) {
    frames_.back() = Frame{};
    RETURN_IF_ERROR(Render(node.else_body, out));
  }
  return absl::OkStatus();
}

absl::Status Evaluator::RenderNode(const Node& node, std::string* out) {
  switch (node.kind) {
    case NodeKind::kData:
      CountRootPiece(out, false);
      return Append(out, node.name);
    case NodeKind::kOutput: {
      ASSIGN_OR_RETURN(Value v, Eval(*node.children[0]));
      ASSIGN_OR_RETURN(std::string text, OutputText(v));
      CountRootPiece(out, v.native_text());
      return Append(out, text);
    }
    case NodeKind::kIf: {
      ASSIGN_OR_RETURN(Value cond, Eval(*node.children[0]));
      ASSIGN_OR_RETURN(bool t, IsTrue(cond));
      return Render(t ? node.body : node.else_body, out);
    }
    case NodeKind::kFor:
      return RenderFor(node, out);
    case NodeKind::kSet: {
      ASSIGN_OR_RETURN(Value v, Eval(*node.children[0]));
      return Assign(node.targets, v);
    }
    case NodeKind::kNamespaceSet: {
      ASSIGN_OR_RETURN(Value ns, Lookup(node.name));
      if (!ns.is_namespace()) {
        return absl::InvalidArgumentError("can only assign attributes to namespace objects");
      }
      ASSIGN_OR_RETURN(Value v, Eval(*node.children[0]));
      ASSIGN_OR_RETURN(Json j, RequireJson(v));
      ns.namespace_attrs()[node.attr] = std::move(j);
      return absl::OkStatus();
    }
    case NodeKind::kSetBlock: {
      std::string text;
      RETURN_IF_ERROR(Render(node.body, &text));
      return Assign(node.targets, ConcatResult(std::move(text)));
    }
    case NodeKind::kMacro: {
      ASSIGN_OR_RETURN(Value macro, MakeMacro(node));
      frames_.back()[node.name] = macro;
      return absl::OkStatus();
    }
    case NodeKind::kCallBlock: {
      const Node& call = *node.children[0];
      ASSIGN_OR_RETURN(Value callee, Eval(*call.children[0]));
      ASSIGN_OR_RETURN(CallArgs args, EvalArgs(call, 1));
      const Node* block = &node;
      Value caller = Value::Callable("caller", [this, block](CallArgs& caller_args) -> absl::StatusOr<Value> {
        // The call block's body; its parameters' defaults follow the call in children.
        RETURN_IF_ERROR(EnterCall());
        frames_.emplace_back();
        for (size_t i = 0; i < block->targets.size(); ++i) {
          if (i < caller_args.values.size()) {
            frames_.back()[block->targets[i]] = caller_args.values[i];
          } else if (block->children[i + 1]) {
            auto def = Eval(*block->children[i + 1]);
            if (!def.ok()) {
              frames_.pop_back();
              LeaveCall();
              return def.status();
            }
            frames_.back()[block->targets[i]] = *def;
          }
        }
        std::string text;
        absl::Status status = Render(block->body, &text);
        frames_.pop_back();
        LeaveCall();
        if (!status.ok()) return status;
        return ConcatResult(std::move(text));
      });
      if (!callee.is_callable()) return absl::InvalidArgumentError("call block needs a macro");
      args.values.push_back(caller);
      args.names.push_back("caller");
      ASSIGN_OR_RETURN(Value result, CallValue(callee, args));
      ASSIGN_OR_RETURN(std::string text, OutputText(result));
      CountRootPiece(out, false);
      return Append(out, text);
    }
    case NodeKind::kInclude: {
      ASSIGN_OR_RETURN(Value target, Eval(*node.children[0]));
      ASSIGN_OR_RETURN(Json name, RequireJson(target));
      if (!name.is_string()) return absl::InvalidArgumentError("include expects a template name");
      if (!ctx_.read_file) {
        if (node.negated) return absl::OkStatus();
        return absl::FailedPreconditionError("file access is not available here (include)");
      }
      auto source = ctx_.read_file(name.get<std::string>());
      if (!source.ok()) {
        if (node.negated) return absl::OkStatus();
        return absl::NotFoundError(absl::StrCat(name.get<std::string>(), ": ", source.status().message()));
      }
      ASSIGN_OR_RETURN(std::string text, RenderNested(*source, name.get<std::string>()));
      CountRootPiece(out, false);
      return Append(out, text);
    }
    default: {
      return absl::InternalError("expression rendered as a statement");
    }
  }
}

absl::StatusOr<std::string> Evaluator::RenderNested(const std::string& source, std::string_view name) {
  RETURN_IF_ERROR(EnterCall());
  auto parsed = ParseCached(source, name, options_.lexer, ParseKind::kTemplate);
  if (!parsed.ok()) {
    LeaveCall();
    return parsed.status();
  }
  std::string out;
  frames_.emplace_back();
  absl::Status status = Render((*parsed)->body, &out);
  frames_.pop_back();
  LeaveCall();
  if (!status.ok()) return status;
  return out;
}

}  // namespace tachyon::tmpl
