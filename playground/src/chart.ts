// The live training chart (Chart.js): loss per step on a log axis, test accuracy on a second axis.
import { Chart, Legend, LinearScale, LineController, LineElement, LogarithmicScale, PointElement, Tooltip } from 'chart.js';

Chart.register(LineController, LineElement, PointElement, LinearScale, LogarithmicScale, Legend, Tooltip);

export interface TrainingChart {
  /** Clear; `accuracy`: whether this run has a test accuracy to show. */
  reset(accuracy: boolean): void;
  addLoss(step: number, loss: number): void;
  addAccuracy(step: number, accuracy: number): void;
  /** Redraw (once per animation frame at most, so fast steps do not stall the page). */
  draw(): void;
}

export function createChart(canvas: HTMLCanvasElement): TrainingChart {
  const chart = new Chart(canvas, {
    type: 'line',
    data: {
      datasets: [
        { label: 'training loss', data: [] as { x: number; y: number }[], borderColor: '#c0392b', backgroundColor: '#c0392b', pointRadius: 0, borderWidth: 1.5, yAxisID: 'loss' },
        { label: 'test accuracy', data: [] as { x: number; y: number }[], borderColor: '#2471a3', backgroundColor: '#2471a3', pointRadius: 3, borderWidth: 1.5, yAxisID: 'acc', hidden: true },
      ],
    },
    options: {
      animation: false,
      maintainAspectRatio: false,
      parsing: false,
      plugins: { legend: { labels: { filter: (item, data) => !data.datasets[item.datasetIndex!].hidden } } },
      scales: {
        x: { type: 'linear', title: { display: true, text: 'step' }, min: 0 },
        loss: { type: 'logarithmic', position: 'left', title: { display: true, text: 'loss' } },
        acc: { type: 'linear', position: 'right', min: 0, max: 1, title: { display: true, text: 'test accuracy' }, grid: { drawOnChartArea: false }, display: false },
      },
    },
  });
  let pending = false;
  const ds = chart.data.datasets;
  return {
    reset(accuracy) {
      ds[0].data = [];
      ds[1].data = [];
      ds[1].hidden = !accuracy;
      chart.options.scales!.acc!.display = accuracy;
      chart.update('none');
    },
    addLoss(step, loss) {
      (ds[0].data as { x: number; y: number }[]).push({ x: step, y: loss });
    },
    addAccuracy(step, accuracy) {
      (ds[1].data as { x: number; y: number }[]).push({ x: step, y: accuracy });
    },
    draw() {
      if (pending) return;
      pending = true;
      requestAnimationFrame(() => {
        pending = false;
        chart.update('none');
      });
    },
  };
}
