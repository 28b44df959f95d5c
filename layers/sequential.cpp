#include "sequential.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <sstream>

namespace minicnn {
namespace {

// 1234567 -> "1,234,567"
std::string group_digits(double v) {
  const std::string digits = std::to_string(static_cast<unsigned long long>(std::llround(v)));
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::size_t count_values(const std::vector<Parameter>& ps) {
  std::size_t n = 0;
  for (const Parameter& p : ps) n += p.value->size();
  return n;
}

std::vector<Parameter> prefixed(std::size_t i, std::vector<Parameter> ps) {
  const std::string prefix = std::to_string(i) + ".";
  for (Parameter& p : ps) p.name = prefix + p.name;
  return ps;
}

}  // namespace

Layer& Sequential::add(std::unique_ptr<Layer> layer) {
  if (layer == nullptr) {
    throw Error("Sequential::add: layer " + std::to_string(layers_.size()) + " is null");
  }
  layer->set_training(training_);
  layer->set_needs_input_grad(layers_.empty() ? needs_input_grad_ : true);
  layers_.push_back(std::move(layer));
  checked_ = false;
  return *layers_.back();
}

Layer& Sequential::operator[](std::size_t i) { return const_cast<Layer&>(std::as_const(*this)[i]); }

const Layer& Sequential::operator[](std::size_t i) const {
  if (i >= layers_.size()) {
    throw Error(name() + ": index " + std::to_string(i) + " is out of range [0, " +
                std::to_string(layers_.size()) + ")");
  }
  return *layers_[i];
}

Shape Sequential::layer_output_shape(std::size_t i, const Shape& x) const {
  try {
    return layers_[i]->output_shape(x);
  } catch (const Error& e) {
    throw Error("Sequential: layer " + std::to_string(i) + " " + layers_[i]->name() +
                " cannot take input of shape " + to_string(x) + ": " + e.what());
  }
}

Shape Sequential::output_shape(const Shape& x) const {
  Shape s = x;
  for (std::size_t i = 0; i < layers_.size(); ++i) s = layer_output_shape(i, s);
  return s;
}

Tensor Sequential::forward_impl(const Tensor& x) {
  const Shape xs = shape_of(x);
  if (!checked_ || xs != checked_input_) {
    output_shape(xs);
    checked_input_ = xs;
    checked_ = true;
  }
  if (layers_.empty()) return x;
  std::size_t i = 0;
  try {
    Tensor y = layers_[0]->forward(x);
    for (i = 1; i < layers_.size(); ++i) y = layers_[i]->forward(y);
    return y;
  } catch (const Error& e) {
    throw Error("Sequential: forward of layer " + std::to_string(i) + " " + layers_[i]->name() +
                ": " + e.what());
  }
}

void Sequential::backward_impl(const Tensor& dy, Tensor* dx) {
  if (layers_.empty()) {
    if (dx) *dx = dy;
    return;
  }
  std::size_t i = layers_.size() - 1;
  try {
    std::optional<Tensor> g = layers_[i]->backward(dy);
    while (i > 0) {
      // add() tells every layer but the first to compute its input gradient.
      if (!g) throw Error("its input gradient is off (set_needs_input_grad(false))");
      --i;
      g = layers_[i]->backward(*g);
    }
    if (dx) {
      if (!g) throw Error("its input gradient is off (set_needs_input_grad(false))");
      *dx = std::move(*g);
    }
  } catch (const Error& e) {
    throw Error("Sequential: backward of layer " + std::to_string(i) + " " + layers_[i]->name() +
                ": " + e.what());
  }
}

std::vector<Parameter> Sequential::parameters() {
  std::vector<Parameter> all;
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    for (Parameter& p : prefixed(i, layers_[i]->parameters())) all.push_back(std::move(p));
  }
  return all;
}

std::vector<Parameter> Sequential::buffers() {
  std::vector<Parameter> all;
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    for (Parameter& p : prefixed(i, layers_[i]->buffers())) all.push_back(std::move(p));
  }
  return all;
}

std::string Sequential::name() const {
  const std::size_t n = layers_.size();
  return "Sequential(" + std::to_string(n) + (n == 1 ? " layer)" : " layers)");
}

double Sequential::flops(const Shape& x) const {
  double total = 0;
  Shape s = x;
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    const Shape next = layer_output_shape(i, s);
    total += layers_[i]->flops(s);
    s = next;
  }
  return total;
}

void Sequential::set_training(bool on) {
  Layer::set_training(on);
  for (auto& layer : layers_) layer->set_training(on);
}

void Sequential::set_needs_input_grad(bool on) {
  Layer::set_needs_input_grad(on);
  if (!layers_.empty()) layers_.front()->set_needs_input_grad(on);
}

void Sequential::collect_rows(const std::string& prefix, Shape& x, std::vector<Row>& rows) {
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    const std::string index = prefix + std::to_string(i);
    if (auto* nested = dynamic_cast<Sequential*>(layers_[i].get())) {
      nested->collect_rows(index + ".", x, rows);
      continue;
    }
    Row row;
    row.index = index;
    row.name = layers_[i]->name_for(x);
    row.params = count_values(layers_[i]->parameters());
    row.flops = layers_[i]->flops(x);
    x = layers_[i]->output_shape(x);
    row.shape = to_string(x);
    rows.push_back(std::move(row));
  }
}

std::string Sequential::summary(const Shape& input_shape) {
  output_shape(input_shape);  // any shape error, named, before building the table

  std::vector<Row> rows;
  Shape s = input_shape;
  collect_rows("", s, rows);

  // Columns: index, layer, output shape, params, FLOPs; text left, numbers right.
  using Cells = std::array<std::string, 5>;
  std::vector<Cells> table;
  table.push_back({"#", "Layer", "Output shape", "Params", "FLOPs"});
  table.push_back({"", "Input", to_string(input_shape), "", ""});
  std::size_t total_params = 0;
  double total_flops = 0;
  for (const Row& r : rows) {
    table.push_back(
        {r.index, r.name, r.shape, group_digits(double(r.params)), group_digits(r.flops)});
    total_params += r.params;
    total_flops += r.flops;
  }
  table.push_back({"", "Total", "", group_digits(double(total_params)), group_digits(total_flops)});

  std::array<std::size_t, 5> width{};
  for (const Cells& c : table)
    for (std::size_t k = 0; k < 5; ++k) width[k] = std::max(width[k], c[k].size());

  std::ostringstream out;
  const auto put_row = [&](const Cells& c) {
    std::string line;
    for (std::size_t k = 0; k < 5; ++k) {
      const std::string pad(width[k] - c[k].size(), ' ');
      const bool right = k == 0 || k >= 3;
      line += (k ? "  " : "") + (right ? pad + c[k] : c[k] + pad);
    }
    line.erase(line.find_last_not_of(' ') + 1);
    out << line << '\n';
  };
  const auto put_rule = [&] {
    std::size_t n = 0;
    for (std::size_t w : width) n += w;
    out << std::string(n + 2 * (width.size() - 1), '-') << '\n';
  };
  put_row(table[0]);
  put_rule();
  for (std::size_t r = 1; r + 1 < table.size(); ++r) put_row(table[r]);
  put_rule();
  put_row(table.back());

  const std::size_t buffer_values = count_values(buffers());
  if (buffer_values > 0) {
    out << "Buffers (saved, not trained): " << group_digits(double(buffer_values)) << " values\n";
  }
  return out.str();
}

}  // namespace minicnn
