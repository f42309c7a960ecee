"""Mining impact (stage 10): pits and dumps as axisymmetric heat-conduction runs, applied to the
natural layers by distance from each feature's edge."""
