#pragma once

// The engine's value model: nlohmann's ordered JSON (Python dicts keep insertion order, and so
// must we: `dict2items`, `| list` and `to_json` expose it), plus the two things JSON cannot hold —
// Jinja's Undefined and callables (macros, bound methods such as `'a b'.split`).

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace tachyon::tmpl {

using Json = nlohmann::ordered_json;

class Value;

// Arguments of a call, a filter or a test, after evaluation. `names[i]` is empty for a
// positional argument and the keyword otherwise.
struct CallArgs {
  std::vector<Value> values;
  std::vector<std::string> names;
};

using NativeFunction = std::function<absl::StatusOr<Value>(CallArgs& args)>;

class Value {
 public:
  enum class Kind : uint8_t { kJson, kUndefined, kCallable, kNamespace };
  // Python tuples print differently from lists ("(1, 2)"), and Ansible keeps a printed tuple
  // as text where a printed list becomes a list again. JSON has no tuples, so a value records
  // whether it is a tuple, or a list of tuples (dictsort, zip, items()).
  enum class Shape : uint8_t { kPlain, kTuple, kTupleList };

  Value() = default;
  Value(Json json) : json_(std::make_shared<const Json>(std::move(json))) {}  // NOLINT: implicit.

  // Values are immutable, so a part of a value (an attribute, an item) shares its parent's
  // storage instead of copying it: `results[0].stdout` copies nothing.
  static Value Part(const Value& parent, const Json& part) {
    Value v;
    v.json_ = std::shared_ptr<const Json>(parent.json_, &part);
    return v;
  }
  // Borrows caller-owned JSON (the Context's variables) that outlives the evaluation.
  static Value Borrowed(const Json& external) {
    Value v;
    v.json_ = std::shared_ptr<const Json>(std::shared_ptr<const Json>(), &external);
    return v;
  }

  static Value Undefined(std::string message) {
    Value v;
    v.kind_ = Kind::kUndefined;
    v.message_ = std::move(message);
    return v;
  }
  // Jinja's plain Undefined (not Ansible's strict one), which `x if false` produces: it prints
  // as '' and is false instead of failing.
  static Value LenientUndefined(std::string message) {
    Value v = Undefined(std::move(message));
    v.lenient_ = true;
    return v;
  }
  static Value Shaped(Json json, Shape shape) {
    Value v(std::move(json));
    v.shape_ = shape;
    return v;
  }
  Value WithShape(Shape shape) const {
    Value v = *this;
    v.shape_ = shape;
    return v;
  }
  static Value Callable(std::string name, NativeFunction fn) {
    Value v;
    v.kind_ = Kind::kCallable;
    v.message_ = std::move(name);
    v.fn_ = std::make_shared<NativeFunction>(std::move(fn));
    return v;
  }
  // A Jinja `namespace()`: attributes assigned by `{% set ns.x = ... %}` are shared by every
  // copy, which is why it lives behind a pointer.
  static Value Namespace(Json attrs) {
    Value v;
    v.kind_ = Kind::kNamespace;
    v.ns_ = std::make_shared<Json>(std::move(attrs));
    return v;
  }

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::kUndefined; }
  bool is_callable() const { return kind_ == Kind::kCallable; }
  bool is_namespace() const { return kind_ == Kind::kNamespace; }
  bool is_json() const { return kind_ == Kind::kJson; }

  bool is_lenient() const { return lenient_; }
  Shape shape() const { return shape_; }
  void set_shape(Shape shape) { shape_ = shape; }
  // Set on the result of to_json/to_yaml/string & co: Ansible wraps those in NativeJinjaText so
  // that a template consisting of just that value is never turned back into a list or dict.
  bool native_text() const { return native_text_; }
  void set_native_text(bool v) { native_text_ = v; }

  const Json& json() const { return json_ ? *json_ : NullJson(); }
  // For Undefined: the error raised when it is used ("'x' is undefined"). For callables: a name.
  const std::string& message() const { return message_; }
  const NativeFunction& function() const { return *fn_; }
  Json& namespace_attrs() const { return *ns_; }

 private:
  Kind kind_ = Kind::kJson;
  Shape shape_ = Shape::kPlain;
  bool lenient_ = false;
  bool native_text_ = false;
  static const Json& NullJson() {
    static const Json* null = new Json(nullptr);
    return *null;
  }

  std::shared_ptr<const Json> json_;
  std::string message_;
  std::shared_ptr<NativeFunction> fn_;
  std::shared_ptr<Json> ns_;
};

// Error used for every undefined-variable failure, so callers can tell it from other errors.
absl::Status UndefinedError(std::string_view message);
bool IsUndefinedError(const absl::Status& status);

// Python's type names as Jinja prints them in "'dict object' has no attribute 'x'".
std::string PythonTypeName(const Json& j);

// Python str() and repr() of a value (lists and dicts print their items with repr()).
std::string ToText(const Json& j);
std::string Repr(const Json& j);
// The same, honouring a value's tuple shape.
std::string ShapedToText(const Json& j, Value::Shape shape);
// Python's str.upper()/lower() for the common alphabets (Latin-1, Latin Extended-A, Greek,
// Cyrillic), not only ASCII.
std::string PyUpper(std::string_view s);
std::string PyLower(std::string_view s);
std::string FloatRepr(double d);

// Python truthiness.
bool Truthy(const Json& j);

// Python ==, and ordering (`<`) with Python's TypeError for unorderable types.
bool Equals(const Json& a, const Json& b);
absl::StatusOr<int> Compare(const Json& a, const Json& b, std::string_view op);

// Number helpers: bools are ints in Python.
bool IsNumber(const Json& j);  // int, float or bool
bool IsIntLike(const Json& j);  // int or bool
int64_t AsInt(const Json& j);
double AsDouble(const Json& j);

// UTF-8 <-> code points, since Python indexes strings by code point.
std::u32string DecodeUtf8(std::string_view s);
std::string EncodeUtf8(std::u32string_view s);
size_t CodePointLength(std::string_view s);

// Conversions between the caller's JSON flavours and ours, without serializing (text that is
// not valid UTF-8 must not make nlohmann throw).
Json ToOrdered(const nlohmann::json& j);
nlohmann::json ToPlain(const Json& j);

// ast.literal_eval for the subset that Python reprs produce (and JSON's true/false/null, as
// Ansible's Json2Python transformer allows). Returns nullopt-like error when not a literal.
absl::StatusOr<Json> LiteralEval(std::string_view text);

}  // namespace tachyon::tmpl
