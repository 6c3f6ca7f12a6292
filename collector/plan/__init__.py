"""collector.plan.candidates"""
