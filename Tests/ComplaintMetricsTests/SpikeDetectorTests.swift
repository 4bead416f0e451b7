import ComplaintEvents
import ComplaintMetrics
import Foundation
import Testing

/// The early-warning detector on synthetic series: a real spike fires once, noise does not, it clears.
@Suite struct SpikeDetectorTests {
    let detector = SpikeDetector(rules: MetricsSettings.EarlyWarning())

    @Test func poissonTailMatchesKnownValues() {
        // P(X >= 1 | 1) = 1 - e^-1; P(X >= 5 | 0.5) ≈ 1.7212e-4; P(X >= 0) = 1.
        #expect(abs(SpikeDetector.poissonUpperTail(1, mean: 1) - (1 - exp(-1))) < 1e-12)
        #expect(abs(SpikeDetector.poissonUpperTail(5, mean: 0.5) - 1.7211562995584e-4) < 1e-12)
        #expect(SpikeDetector.poissonUpperTail(0, mean: 3) == 1)
        // A tail far below double's 1 − CDF resolution stays positive and tiny.
        let tiny = SpikeDetector.poissonUpperTail(60, mean: 3)
        #expect(tiny > 0 && tiny < 1e-40)
        // A large norm (e^-800 underflows): the count at the norm is ordinary, not a spike.
        let busy = SpikeDetector.poissonUpperTail(800, mean: 800)
        #expect(busy > 0.4 && busy < 0.6)
        #expect(SpikeDetector.poissonUpperTail(700, mean: 800) > 0.99)
    }

    @Test func noiseAroundTheNormDoesNotFire() {
        // A hotel with about 4 complaints of a category in this hour of the week.
        for observed in 0...9 {
            let verdict = detector.evaluate(observed: observed, history: [4, 3, 5, 4])
            #expect(!verdict.raises, "observed \(observed) against a norm of 4 raised (p \(verdict.pValue))")
        }
    }

    @Test func aRealSpikeFiresAndAQuietHotelNeedsTheMinimum() {
        let spike = detector.evaluate(observed: 14, history: [4, 3, 5, 4])
        #expect(spike.raises)
        #expect(spike.baseline == 4)
        #expect(spike.pValue < 0.001)
        // Four complaints where there are usually none are unusual but under the minimum count.
        let few = detector.evaluate(observed: 4, history: [0, 0, 0, 0])
        #expect(!few.raises)
        #expect(few.baseline == MetricsSettings.EarlyWarning().minimumBaseline)
        let critical = detector.evaluate(observed: 30, history: [2, 2, 2, 2])
        #expect(critical.raises && critical.severity == .critical)
    }

    /// An hour-by-hour series: the detector, run like the sweep keeps episodes, raises once and clears once.
    @Test func anEpisodeIsRaisedOnceAndClearsWhenItSubsides() {
        let norm = [3, 2, 4, 3]
        let series = [3, 2, 4, 3, 5, 12, 15, 11, 6, 3, 2]
        var open = false
        var raised = 0, cleared = 0
        for observed in series {
            let verdict = detector.evaluate(observed: observed, history: norm)
            if open, verdict.clears {
                open = false
                cleared += 1
            } else if !open, verdict.raises {
                open = true
                raised += 1
            }
        }
        #expect(raised == 1)
        #expect(cleared == 1)
        #expect(!open)
    }
}
