import Foundation

/// A small SVG chart writer for the evaluation report: one plot area with linear axes, ticks,
/// lines, points, bars and a legend. Coordinates are data units; output is standalone SVG 1.1.
struct SVGPlot {
    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"]

    let title: String, xLabel: String, yLabel: String
    let x: ClosedRange<Double>, y: ClosedRange<Double>
    let width = 620.0, height = 400.0
    let left = 60.0, right = 220.0, top = 34.0, bottom = 50.0
    private var body = "", legendItems: [(String, String)] = []

    init(title: String, xLabel: String, yLabel: String, x: ClosedRange<Double>, y: ClosedRange<Double>) {
        self.title = title; self.xLabel = xLabel; self.yLabel = yLabel
        self.x = x.lowerBound < x.upperBound ? x : (x.lowerBound - 1)...(x.upperBound + 1)
        self.y = y.lowerBound < y.upperBound ? y : (y.lowerBound - 1)...(y.upperBound + 1)
    }

    func px(_ v: Double) -> Double { left + (v - x.lowerBound) / (x.upperBound - x.lowerBound) * (width - left - right) }
    func py(_ v: Double) -> Double { height - bottom - (v - y.lowerBound) / (y.upperBound - y.lowerBound) * (height - top - bottom) }
    static func f(_ v: Double) -> String { String(format: "%.2f", v) }

    mutating func line(_ points: [(Double, Double)], color: String, dashed: Bool = false, label: String? = nil) {
        let p = points.map { "\(Self.f(px($0.0))),\(Self.f(py($0.1)))" }.joined(separator: " ")
        body += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\"\(dashed ? " stroke-dasharray=\"5,4\"" : "") points=\"\(p)\"/>\n"
        if let label { legendItems.append((label, color)) }
    }

    mutating func points(_ pts: [(Double, Double)], color: String, label: String? = nil) {
        for (a, b) in pts { body += "<circle cx=\"\(Self.f(px(a)))\" cy=\"\(Self.f(py(b)))\" r=\"3\" fill=\"\(color)\" fill-opacity=\"0.75\"/>\n" }
        if let label { legendItems.append((label, color)) }
    }

    /// Bars `[x0, x1] × [0, h]` with the given fill opacity.
    mutating func bars(_ bins: [(x0: Double, x1: Double, h: Double)], color: String, label: String? = nil) {
        for b in bins where b.h > 0 {
            let x0 = px(b.x0), x1 = px(b.x1), y1 = py(b.h), y0 = py(y.lowerBound)
            body += "<rect x=\"\(Self.f(x0))\" y=\"\(Self.f(y1))\" width=\"\(Self.f(x1 - x0))\" height=\"\(Self.f(y0 - y1))\" fill=\"\(color)\" fill-opacity=\"0.5\"/>\n"
        }
        if let label { legendItems.append((label, color)) }
    }

    static func ticks(_ r: ClosedRange<Double>) -> [Double] {
        let span = r.upperBound - r.lowerBound
        let raw = span / 5, mag = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * mag }.first { $0 >= raw } ?? 10 * mag
        var t = ceil(r.lowerBound / step) * step, out: [Double] = []
        while t <= r.upperBound + step * 1e-9 { out.append(abs(t) < step * 1e-9 ? 0 : t); t += step }
        return out
    }

    func render() -> String {
        var s = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        s += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" font-family=\"sans-serif\" font-size=\"12\">\n"
        s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        s += "<text x=\"\(Self.f(width / 2))\" y=\"20\" text-anchor=\"middle\" font-size=\"14\">\(xmlEscape(title))</text>\n"
        let x0 = px(x.lowerBound), x1 = px(x.upperBound), y0 = py(y.lowerBound), y1 = py(y.upperBound)
        for t in Self.ticks(x) {
            s += "<line x1=\"\(Self.f(px(t)))\" y1=\"\(Self.f(y0))\" x2=\"\(Self.f(px(t)))\" y2=\"\(Self.f(y1))\" stroke=\"#eee\"/>\n"
            s += "<text x=\"\(Self.f(px(t)))\" y=\"\(Self.f(y0 + 16))\" text-anchor=\"middle\">\(Self.label(t))</text>\n"
        }
        for t in Self.ticks(y) {
            s += "<line x1=\"\(Self.f(x0))\" y1=\"\(Self.f(py(t)))\" x2=\"\(Self.f(x1))\" y2=\"\(Self.f(py(t)))\" stroke=\"#eee\"/>\n"
            s += "<text x=\"\(Self.f(x0 - 6))\" y=\"\(Self.f(py(t) + 4))\" text-anchor=\"end\">\(Self.label(t))</text>\n"
        }
        s += body
        s += "<rect x=\"\(Self.f(x0))\" y=\"\(Self.f(y1))\" width=\"\(Self.f(x1 - x0))\" height=\"\(Self.f(y0 - y1))\" fill=\"none\" stroke=\"black\"/>\n"
        s += "<text x=\"\(Self.f((x0 + x1) / 2))\" y=\"\(Self.f(height - 12))\" text-anchor=\"middle\">\(xmlEscape(xLabel))</text>\n"
        s += "<text transform=\"translate(16 \(Self.f((y0 + y1) / 2))) rotate(-90)\" text-anchor=\"middle\">\(xmlEscape(yLabel))</text>\n"
        for (i, (name, color)) in legendItems.enumerated() {
            let ly = top + 10 + Double(i) * 18
            s += "<rect x=\"\(Self.f(x1 + 12))\" y=\"\(Self.f(ly - 9))\" width=\"12\" height=\"12\" fill=\"\(color)\"/>\n"
            s += "<text x=\"\(Self.f(x1 + 30))\" y=\"\(Self.f(ly + 1))\">\(xmlEscape(name))</text>\n"
        }
        return s + "</svg>\n"
    }

    static func label(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e6 ? String(Int(v)) : String(format: "%g", v)
    }
}

/// Escapes `& < > " '` for XML text and attributes.
func xmlEscape(_ s: String) -> String {
    var o = ""
    for c in s {
        switch c {
        case "&": o += "&amp;"
        case "<": o += "&lt;"
        case ">": o += "&gt;"
        case "\"": o += "&quot;"
        case "'": o += "&apos;"
        default: o.append(c)
        }
    }
    return o
}
