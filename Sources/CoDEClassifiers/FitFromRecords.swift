import Foundation

/// Options of `code-fit`: the kind and every hyperparameter (each used by its kind only).
public struct FitOptions: Sendable {
    public var kind: ClassifierKind
    public var linear = LogisticRegression.Hyperparameters()
    public var knn = NearestNeighbors.Hyperparameters()
    public var svm = OneClassSVM.Hyperparameters()
    public init(kind: ClassifierKind) { self.kind = kind }
}

/// What a fit used and how the model does on its own training rows.
public struct FitReport: Sendable {
    public let kind: ClassifierKind
    /// Rows the classifier was fitted on.
    public let fittedRows: Int
    /// Rows skipped: error rows, and for the SVM the rows labelled fake.
    public let skippedErrorRows: Int
    public let dimension: Int
    /// Accuracy on the labelled ok rows (training accuracy; for the SVM, fake rows are unseen).
    public let accuracy: AccuracyReport?
    /// ROC AUC on the labelled ok rows when both classes are present.
    public let auc: Double?
    public let seconds: Double
}

extension AnyClassifier {
    /// Fits a classifier on embeddings JSONL records (`source` names the file in errors).
    ///
    /// Error rows are skipped (counted in the report). Linear and k-NN need a label on every ok
    /// row; the SVM fits on the rows labelled real and on unlabelled rows (a folder of real
    /// photos embedded without labels), ignoring rows labelled fake except in the report.
    public static func fit(_ records: [EmbeddingRecord], options: FitOptions, source: String) throws -> (AnyClassifier, FitReport) {
        let ok = records.filter(\.isOK)
        guard let x = EmbeddingsJSONL.matrix(ok) else { throw ClassifierError.badTrainingData("\(source): no rows with an embedding") }
        let start = DispatchTime.now().uptimeNanoseconds
        let model: AnyClassifier
        var fitted = ok.count
        switch options.kind {
        case .linear, .knn:
            if let r = ok.first(where: { $0.label == nil }) {
                throw ClassifierError.badTrainingData("\(source):\(r.line): row '\(r.path)' has no \"label\" (\(options.kind.rawValue) needs real/fake labels on every row)")
            }
            let y = ok.map { $0.label! }
            model = options.kind == .linear
                ? .linear(try LogisticRegression.fit(x, labels: y, hyperparameters: options.linear))
                : .knn(try NearestNeighbors.fit(x, labels: y, hyperparameters: options.knn))
        case .svm:
            let realRows = ok.indices.filter { ok[$0].label != .fake }
            fitted = realRows.count
            model = .svm(try OneClassSVM.fit(real: x.select(realRows), hyperparameters: options.svm))
        case .head:
            model = .head(try LinearHead.fit(x, labels: [], hyperparameters: .init()))
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let labelled = ok.indices.filter { ok[$0].label != nil }
        var acc: AccuracyReport?, auc: Double?
        if !labelled.isEmpty {
            let preds = try model.predict(x.select(labelled))
            let y = labelled.map { ok[$0].label! }
            acc = Metrics.accuracy(verdicts: preds.map(\.verdict), labels: y)
            if Set(y).count == 2 { auc = Metrics.rocAUC(scores: preds.map { model.fakeness($0.decision) }, labels: y) }
        }
        return (model, FitReport(kind: options.kind, fittedRows: fitted, skippedErrorRows: records.count - ok.count,
                                 dimension: x.dimension, accuracy: acc, auc: auc, seconds: seconds))
    }
}
