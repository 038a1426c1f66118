#include "lib/ir/graph.h"

namespace quantc {

GraphNode& Graph::Add(std::string op_type, std::string name, std::vector<std::string> inputs,
                      std::vector<std::string> outputs, std::vector<GraphAttribute> attributes, std::string domain) {
  nodes.push_back(GraphNode{std::move(op_type), std::move(domain), std::move(name), std::move(inputs),
                            std::move(outputs), std::move(attributes)});
  return nodes.back();
}

}  // namespace quantc
