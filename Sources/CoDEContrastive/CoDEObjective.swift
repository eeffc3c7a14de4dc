/// The eight views one CoDE step embeds, in the authors' order (SPEC section 3).
public enum CoDEView: Int, CaseIterable, Sendable {
    case real, fake, augmentedReal, augmentedFake, globalReal, localReal, globalFake, localFake

    public var name: String {
        switch self {
        case .real: "real"
        case .fake: "fake"
        case .augmentedReal: "augmentedReal"
        case .augmentedFake: "augmentedFake"
        case .globalReal: "globalReal"
        case .localReal: "localReal"
        case .globalFake: "globalFake"
        case .localFake: "localFake"
        }
    }
}

/// One `[B, d]` matrix per ``CoDEView`` (raw embeddings, or their gradients).
public struct CoDEViewEmbeddings<T: ContrastiveScalar>: Sendable, Equatable {
    /// Indexed by `CoDEView.rawValue`.
    public var views: [Embeddings<T>]

    /// Eight matrices of the same shape `[B, d]`, in ``CoDEView`` order; throws naming the first
    /// view whose shape differs from `real`'s.
    @inlinable
    public init(_ views: [Embeddings<T>]) throws {
        guard views.count == CoDEView.allCases.count else {
            throw ContrastiveError.badShape(item: "CoDE views", reason: "\(views.count) groups given, 8 required")
        }
        for v in CoDEView.allCases where views[v.rawValue].shape != views[0].shape {
            throw ContrastiveError.shapeMismatch(item: v.name, expected: views[0].shape, found: views[v.rawValue].shape)
        }
        self.views = views
    }

    /// Eight `[rows, dim]` zero matrices.
    @inlinable
    public init(zerosRows rows: Int, dim: Int) {
        views = Array(repeating: Embeddings(zerosRows: rows, dim: dim), count: CoDEView.allCases.count)
    }

    @inlinable
    public subscript(view: CoDEView) -> Embeddings<T> {
        get { views[view.rawValue] }
        set { views[view.rawValue] = newValue }
    }

    @inlinable public var batch: Int { views[0].rows }
    @inlinable public var dim: Int { views[0].dim }
}

/// The loss of one CoDE step, its parts, and dTotal/dEmbedding for every view.
public struct CoDELossResult<T: ContrastiveScalar>: Sendable {
    /// The objective that produced this result; parts it does not have are 0
    /// (``TrainingObjective/parts``).
    public let objective: TrainingObjective
    /// The objective's total: L_real + L_fake for ``TrainingObjective/code`` (see
    /// ``TrainingObjective`` for the others).
    public let total: Double
    /// InfoNCE(real, aug(real), aug(fake)).
    public let lRealGlobal: Double
    /// InfoNCE(local(real), global(real), global(fake)).
    public let lRealLocal: Double
    /// InfoNCE(fake, aug(fake), aug(real)).
    public let lFakeGlobal: Double
    /// InfoNCE(local(fake), global(fake), global(real)).
    public let lFakeLocal: Double
    /// L_real: ½ (lRealGlobal + lRealLocal) for `code`, lRealGlobal for the global-only objectives.
    public var lReal: Double { objective == .code ? (lRealGlobal + lRealLocal) / 2 : lRealGlobal }
    /// L_fake: ½ (lFakeGlobal + lFakeLocal) for `code`, lFakeGlobal for the global-only objectives.
    public var lFake: Double { objective == .code ? (lFakeGlobal + lFakeLocal) / 2 : lFakeGlobal }
    /// ∂total/∂(raw embedding) for each view, `[B, d]`, with respect to the un-rolled inputs.
    public let gradients: CoDEViewEmbeddings<T>

    /// The `code` objective's result: total = ½ (lRealGlobal + lRealLocal) + ½ (lFakeGlobal + lFakeLocal).
    @inlinable
    public init(lRealGlobal: Double, lRealLocal: Double, lFakeGlobal: Double, lFakeLocal: Double, gradients: CoDEViewEmbeddings<T>) {
        self.init(objective: .code, total: (lRealGlobal + lRealLocal) / 2 + (lFakeGlobal + lFakeLocal) / 2,
                  lRealGlobal: lRealGlobal, lRealLocal: lRealLocal, lFakeGlobal: lFakeGlobal, lFakeLocal: lFakeLocal, gradients: gradients)
    }

    /// Any objective's result with its total as computed by that objective.
    @inlinable
    public init(objective: TrainingObjective, total: Double, lRealGlobal: Double = 0, lRealLocal: Double = 0,
                lFakeGlobal: Double = 0, lFakeLocal: Double = 0, gradients: CoDEViewEmbeddings<T>) {
        self.objective = objective
        self.total = total
        self.lRealGlobal = lRealGlobal
        self.lRealLocal = lRealLocal
        self.lFakeGlobal = lFakeGlobal
        self.lFakeLocal = lFakeLocal
        self.gradients = gradients
    }
}

/// The CoDE training objective on the raw embeddings of the eight views (SPEC section 3):
/// ```
/// L_real = ½ [ InfoNCE(real, aug(real)ρ, aug(fake)σ) + InfoNCE(local(real), global(real), global(fake)) ]
/// L_fake = ½ [ InfoNCE(fake, aug(fake)σ, aug(real)ρ) + InfoNCE(local(fake), global(fake), global(real)) ]
/// total  = L_real + L_fake
/// ```
/// with every row L2-normalised first, InfoNCE at temperature τ (0.1), and optional roll indices
/// ρ, σ (the authors' `roll_index`): `aug(real)ρ` has row `ρ[i]` of `aug(real)` in row i, so the
/// positive of a query is another image of the same class. The authors' main training path adds
/// L_real twice and drops L_fake; CoDEKit uses L_real + L_fake (see docs/training-objective.md).
///
/// The result holds dTotal/dEmbedding for all eight `[B, d]` inputs, so a trainer can embed the
/// logical batch once, call this, then back-propagate the returned rows micro-batch by
/// micro-batch (the negatives couple the whole batch; see SPEC section 3, "gradient cache").
///
/// With `variant` ``TrainingObjective/global`` only the two global terms are kept, each with
/// weight 1 (total = InfoNCE(real, aug(real)ρ, aug(fake)σ) + InfoNCE(fake, aug(fake)σ, aug(real)ρ));
/// with ``TrainingObjective/globalReal`` only the first (real anchors, fake negatives). Views an
/// objective does not use (``TrainingObjective/views``) are not read and get zero gradients.
public struct CoDEObjective: Sendable, Equatable {
    public let infoNCE: InfoNCE
    /// `code` (default), `global` or `globalReal`; never `bce` (see ``BinaryCrossEntropyHead``).
    public let variant: TrainingObjective

    public init(temperature: Double = 0.1, variant: TrainingObjective = .code) {
        precondition(variant.isContrastive, "CoDEObjective: \(variant.rawValue) is not a contrastive objective")
        infoNCE = InfoNCE(temperature: temperature)
        self.variant = variant
    }

    /// Evaluates the objective and its gradients. Throws ``ContrastiveError`` for a non-finite
    /// embedding (naming the view) or a roll index that is not a permutation of `0..<B`.
    @inlinable
    public func callAsFunction<T: ContrastiveScalar>(_ x: CoDEViewEmbeddings<T>, rollReal: [Int]? = nil, rollFake: [Int]? = nil) throws
        -> CoDELossResult<T> {
        guard x.batch >= 1, x.dim >= 1 else {
            throw ContrastiveError.badShape(item: "CoDE views", reason: "batch \(x.batch) and dim \(x.dim) must be positive")
        }
        for v in variant.views { try x[v].checkFinite(name: v.name) }
        try Self.validateRoll(rollReal, batch: x.batch, name: "rollReal")
        try Self.validateRoll(rollFake, batch: x.batch, name: "rollFake")

        let b = x.batch
        let identity = Array(0..<b)
        let rolls = [rollReal ?? identity, rollFake ?? identity]
        // z[0..<8]: the normalised views; z[8], z[9]: aug(real) and aug(fake) after their roll.
        // Views the objective does not use stay zero (they are never read).
        let used = Set(variant.views)
        var z: [Embeddings<T>] = [], norms: [[Double]] = []
        for v in CoDEView.allCases {
            guard used.contains(v) else { z.append(Embeddings(zerosRows: b, dim: x.dim)); norms.append([]); continue }
            let (y, n) = L2Normalization.forward(x[v])
            z.append(y)
            norms.append(n)
        }
        z.append(z[CoDEView.augmentedReal.rawValue].gathered(rolls[0]))
        z.append(z[CoDEView.augmentedFake.rawValue].gathered(rolls[1]))
        // (query, positive, negatives) as indices into z, in the order of the result's parts.
        // The four terms in the order of the result's parts; `code` weights each ½, the global-only
        // objectives keep the global terms with weight 1 and drop the rest (weight 0: not evaluated).
        let terms = [(CoDEView.real.rawValue, 8, 9), (CoDEView.localReal.rawValue, CoDEView.globalReal.rawValue, CoDEView.globalFake.rawValue),
                     (CoDEView.fake.rawValue, 9, 8), (CoDEView.localFake.rawValue, CoDEView.globalFake.rawValue, CoDEView.globalReal.rawValue)]
        let weights: [Double] = switch variant {
        case .code: [0.5, 0.5, 0.5, 0.5]
        case .global: [1, 0, 1, 0]
        case .globalReal: [1, 0, 0, 0]
        case .bce: [0, 0, 0, 0]
        }
        var dz = [Embeddings<T>](repeating: Embeddings(zerosRows: b, dim: x.dim), count: z.count)
        var losses: [Double] = []
        for ((q, p, n), weight) in zip(terms, weights) {
            guard weight != 0 else { losses.append(0); continue }
            let (loss, cache) = infoNCE.forward(query: z[q], positive: z[p], negatives: z[n])
            losses.append(loss)
            var dq = dz[q], dp = dz[p], dn = dz[n]
            infoNCE.backward(cache, query: z[q], positive: z[p], negatives: z[n], scale: weight, dQuery: &dq, dPositive: &dp, dNegatives: &dn)
            (dz[q], dz[p], dz[n]) = (dq, dp, dn)
        }
        // The rolled rows' gradients go back to the rows they were taken from.
        dz[CoDEView.augmentedReal.rawValue].scatterAdd(dz[8], rolls[0])
        dz[CoDEView.augmentedFake.rawValue].scatterAdd(dz[9], rolls[1])

        var dx = CoDEViewEmbeddings<T>(zerosRows: b, dim: x.dim)
        for v in CoDEView.allCases where used.contains(v) {
            L2Normalization.backward(dy: dz[v.rawValue], y: z[v.rawValue], norms: norms[v.rawValue], dx: &dx[v])
        }
        if variant == .code {
            return CoDELossResult(lRealGlobal: losses[0], lRealLocal: losses[1], lFakeGlobal: losses[2],
                                  lFakeLocal: losses[3], gradients: dx)
        }
        let total = zip(losses, weights).reduce(0) { $0 + $1.0 * $1.1 }
        return CoDELossResult(objective: variant, total: total, lRealGlobal: losses[0], lRealLocal: losses[1],
                              lFakeGlobal: losses[2], lFakeLocal: losses[3], gradients: dx)
    }

    @inlinable
    static func validateRoll(_ index: [Int]?, batch: Int, name: String) throws {
        guard let index else { return }
        guard index.count == batch else {
            throw ContrastiveError.badRollIndex(item: name, reason: "\(index.count) entries for a batch of \(batch)")
        }
        var seen = [Bool](repeating: false, count: batch)
        for (i, r) in index.enumerated() {
            guard (0..<batch).contains(r) else { throw ContrastiveError.badRollIndex(item: name, reason: "entry \(i) is \(r), outside 0..<\(batch)") }
            guard !seen[r] else { throw ContrastiveError.badRollIndex(item: name, reason: "\(r) appears twice") }
            seen[r] = true
        }
    }
}
