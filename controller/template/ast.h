#pragma once

// The parsed form of a template. One node type with a kind keeps the tree compact and the
// evaluator a single switch; the comment on each kind says which fields it uses.

#include <memory>
#include <string>
#include <vector>

#include "controller/template/value.h"

namespace tachyon::tmpl {

enum class NodeKind {
  // Expressions.
  kConst,      // literal
  kName,       // name
  kList,       // children
  kTuple,      // children
  kDict,       // children: key, value, key, value, ...
  kGetAttr,    // children[0] . name
  kGetItem,    // children[0] [ children[1] ]
  kSlice,      // children[0] [ children[1] : children[2] : children[3] ] (null when omitted)
  kCall,       // children[0] ( children[1..] ), arg_names aligned with children[1..]
  kFilter,     // children[0] | name ( children[1..] )
  kTest,       // children[0] is [not: negated] name ( children[1..] )
  kNeg,        // - children[0]
  kPos,        // + children[0]
  kNot,        // not children[0]
  kBinary,     // children[0] op children[1]; op in + - * / // % ** ~
  kAnd,        // children[0] and children[1]
  kOr,         // children[0] or children[1]
  kCompare,    // children[0] (ops[i] children[i+1])*; ops in == != < > <= >= in notin
  kCondExpr,   // children[1] if children[0] else children[2] (children[2] may be null)
  // Statements.
  kTemplate,   // body
  kData,       // literal text in `name`
  kOutput,     // {{ children[0] }}
  kIf,         // if children[0]: body else else_body (elif is a nested kIf in else_body)
  kFor,        // for targets in children[0] [if children[1]]: body else else_body; negated=recursive
  kSet,        // targets (or name.attr via `name`+`attr`) = children[0]
  kSetBlock,   // targets = rendered body (children[0] optional filter chain is not supported)
  kMacro,      // macro name(targets with defaults children) body
  kCallBlock,  // {% call macro() %}body{% endcall %}: children[0] is the call
  kInclude,    // include children[0]; negated = ignore missing
  kNamespaceSet,  // {% set name.attr = children[0] %}
};

struct Node;
using NodePtr = std::unique_ptr<Node>;

struct Node {
  NodeKind kind;
  int line = 0;
  int column = 0;
  std::string name;                 // identifier, attribute, filter/test/operator name, text
  std::string attr;                 // kNamespaceSet: attribute
  Json literal;                     // kConst
  bool negated = false;             // kTest: `is not`; kFor: recursive; kInclude: ignore missing
  std::vector<NodePtr> children;
  std::vector<std::string> arg_names;  // keyword names for call arguments ("" = positional)
  std::vector<std::string> ops;        // kCompare operators
  std::vector<std::string> targets;    // kFor/kSet targets; kMacro parameter names
  std::vector<NodePtr> body;
  std::vector<NodePtr> else_body;

  Node(NodeKind k, int l, int c) : kind(k), line(l), column(c) {}
};

}  // namespace tachyon::tmpl
